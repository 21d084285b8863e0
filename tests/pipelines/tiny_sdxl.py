"""A tiny, randomly initialised SDXL with the real architecture's parts (UNet with
text_time embeddings, both CLIP text encoders, VAE, Euler scheduler), built from config
and saved with save_pretrained, so the tests load it through the same code path as a
store's real weights. Its tokenizers are the byte-level CLIP vocabulary in
tests/fixtures/clip-tokenizer."""

from __future__ import annotations

from pathlib import Path

TOKENIZER = Path(__file__).resolve().parents[1] / "fixtures" / "clip-tokenizer"
SIZE = 64          # pixels: UNet sample 32 x VAE scale factor 2


def build(folder: Path, seed: int = 0, second_encoder_width: int = 32) -> Path:
    """Write a tiny SDXL pipeline folder (model_index.json and components) to `folder`.
    `second_encoder_width` sets the second text encoder's width apart from the first's,
    as in SDXL (768 and 1280): diffusers' single-file loader tells the two apart by it."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=32 + second_encoder_width, norm_num_groups=1,
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, sample_size=128)
    config = CLIPTextConfig(bos_token_id=512, eos_token_id=513, pad_token_id=513, hidden_size=32, intermediate_size=37,
                            layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=5, vocab_size=1000,
                            hidden_act="gelu", projection_dim=32)
    second = config if second_encoder_width == config.hidden_size else \
        CLIPTextConfig(**{**config.to_dict(), "hidden_size": second_encoder_width})
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(config), text_encoder_2=CLIPTextModelWithProjection(second),
        tokenizer=CLIPTokenizer.from_pretrained(TOKENIZER), tokenizer_2=CLIPTokenizer.from_pretrained(TOKENIZER),
        unet=unet, scheduler=scheduler,
    )
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder)
    return folder


def build_vae(folder: Path, seed: int = 1) -> Path:
    """A separate tiny VAE folder, standing in for the fp16-fixed SDXL VAE."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, sample_size=128)
    vae.save_pretrained(folder)
    return folder
