"""SDXL speed: the raw diffusers pipeline against our generator, on the same components.

On a GPU machine (the GPU check): the full-size SDXL UNet and VAE architectures with
random weights (compute does not depend on the weights) and one-layer random text
encoders of the real widths, fp16 on CUDA, 1024x1024; 30 steps with guidance and
8 steps without. Prints seconds per image, steps per second, peak GPU memory, the card
and our/raw ratio (target: ours within 3% of raw).

    python bench/sdxl_gpu.py            # GPU, full size
    python bench/sdxl_gpu.py --tiny     # CPU smoke at 64x64 on the tests' tiny SDXL
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from appliance.reader.descriptions import parse_description  # noqa: E402
from pipelines import prompts  # noqa: E402
from pipelines.base import GenerationRequest  # noqa: E402
from pipelines.sdxl import SDXLGenerator  # noqa: E402

TOKENIZER = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "clip-tokenizer"


def full_size_pipeline(device: str, dtype):
    """SDXL base's UNet and VAE architectures, random weights; thin random text encoders."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=2, sample_size=1024, scaling_factor=0.13025)
    common = dict(bos_token_id=512, eos_token_id=513, pad_token_id=513, vocab_size=1000, num_hidden_layers=1,
                  hidden_act="gelu", max_position_embeddings=77)
    text_1 = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12, **common))
    text_2 = CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=1280, intermediate_size=5120,
                                                        num_attention_heads=20, projection_dim=1280, **common))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER)
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_1, text_encoder_2=text_2, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
    return pipe.to(device, dtype)


def tiny_pipeline():
    from diffusers import StableDiffusionXLPipeline

    from tests.pipelines.tiny_sdxl import build
    folder = Path(tempfile.mkdtemp()) / "tiny"
    return StableDiffusionXLPipeline.from_pretrained(build(folder))


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="CPU smoke on the tests' tiny SDXL")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.tiny
    device, dtype = ("cuda", torch.float16) if cuda else ("cpu", torch.float32)
    pipe = tiny_pipeline() if args.tiny else full_size_pipeline(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    size = 64 if args.tiny else 1024
    card = torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine()
    print(f"device: {device} ({card}), torch {torch.__version__}, {size}x{size}, dtype {dtype}")
    spec = parse_description("14k rose gold halo ring with a 1.5 carat oval lab diamond, size 6").spec
    for steps, guidance in ((30, 6.0), (8, 0.0)):
        if args.tiny:
            steps = max(2, steps // 10)
        ours = SDXLGenerator.from_pipeline(pipe, steps=steps, guidance=guidance)
        prompt, _ = prompts.fit(prompts.prompt_parts(spec, ""), ours.count_tokens)
        embeds = ours.encode(prompt, guided=guidance > 1)
        request = GenerationRequest(spec=spec, description="", count=1, seeds=[1], width=size, height=size)

        def raw():
            # The same work our generator does for a request: encode, then denoise and decode.
            e = ours.encode(prompt, guided=guidance > 1)
            pipe(**e, num_inference_steps=steps, guidance_scale=guidance, height=size, width=size,
                 generator=[torch.Generator().manual_seed(1)], output_type="pil")

        def wrapped():
            ours.generate(request, lambda fraction, preview=None: None, lambda: False)

        del embeds
        raw()                                           # warm up kernels and allocator
        wrapped()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t_raw = timed(raw, args.repeats)
        peak_raw = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t_ours = timed(wrapped, args.repeats)
        peak_ours = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
        print(f"{steps:>2} steps, guidance {guidance:g}: raw {t_raw:.3f} s/image ({steps / t_raw:.2f} steps/s), "
              f"ours {t_ours:.3f} s/image ({steps / t_ours:.2f} steps/s), ours/raw {t_ours / t_raw:.3f}, "
              f"peak GPU memory raw {peak_raw:.2f} GiB, ours {peak_ours:.2f} GiB")


if __name__ == "__main__":
    main()
