"""A diffusers SDXL pipeline written as one single-file checkpoint in Stability's original
(SGM) layout, the way fine-tuned SDXL checkpoints ship: the tests make one from the tiny
SDXL to import it. The layout's facts (block numbering, resnet and attention names,
OpenCLIP's fused q/k/v projection and transposed text projection) are those of the
original repositories; diffusers' single-file loader reads them back.

    UNet          model.diffusion_model.*   input_blocks / middle_block / output_blocks
    VAE           first_stage_model.*       encoder.down.N.block.M / decoder.up.N (reversed)
    CLIP ViT-L    conditioner.embedders.0.transformer.text_model.*   (transformers' own names)
    OpenCLIP-G    conditioner.embedders.1.model.*   transformer.resblocks.N, in_proj, text_projection
"""

from __future__ import annotations

from pathlib import Path

UNET, VAE = "model.diffusion_model.", "first_stage_model."
CLIP_L, OPEN_CLIP_G = "conditioner.embedders.0.transformer.", "conditioner.embedders.1.model."
RESNET = (("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("time_emb_proj.", "emb_layers.1."),
          ("norm2.", "out_layers.0."), ("conv2.", "out_layers.3."), ("conv_shortcut.", "skip_connection."))
VAE_ATTENTION = (("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."),
                 ("to_out.0.", "proj_out."))
OPEN_CLIP_LAYER = (("layer_norm1.", "ln_1."), ("layer_norm2.", "ln_2."), ("mlp.fc1.", "mlp.c_fc."),
                   ("mlp.fc2.", "mlp.c_proj."), ("self_attn.out_proj.", "attn.out_proj."))


def save_single_file(pipe, path: Path) -> Path:
    """Write the pipeline's UNet, VAE and both text encoders to `path` as one safetensors
    file in the original layout."""
    from safetensors.torch import save_file
    state = state_dict(pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2)
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(path))
    return path


def state_dict(unet, vae, text_encoder, text_encoder_2) -> dict:
    """The four models' tensors by their names in a single-file checkpoint."""
    state = {UNET + k: v for k, v in unet_keys(unet.state_dict(), unet.config).items()}
    state.update({VAE + k: v for k, v in vae_keys(vae.state_dict(), vae.config).items()})
    # transformers 5.6+ drops CLIPTextModel's text_model level; the original layout keeps it.
    state.update({CLIP_L + "text_model." + k.removeprefix("text_model."): v
                  for k, v in text_encoder.state_dict().items()})
    state.update({OPEN_CLIP_G + k: v for k, v in open_clip_keys(text_encoder_2.state_dict()).items()})
    # Two tensors real checkpoints carry that no diffusers model takes: the loader must pass over them.
    import torch
    positions = text_encoder.config.max_position_embeddings
    state[CLIP_L + "text_model.embeddings.position_ids"] = torch.arange(positions).unsqueeze(0)
    state[OPEN_CLIP_G + "logit_scale"] = torch.tensor(4.6052)
    return state


def unet_keys(state: dict, config) -> dict:
    """The UNet's tensors by their original names: conv_in is input block 0; each down
    block's resnets (with their attentions) are the next input blocks, its downsampler
    the one after; the middle block is resnet, attention, resnet; each up block has one
    resnet more than a down block, its upsampler in the last of its output blocks."""
    layers = config.layers_per_block
    blocks = len(config.down_block_types)
    prefixes = {"conv_in.": "input_blocks.0.0.", "time_embedding.linear_1.": "time_embed.0.",
                "time_embedding.linear_2.": "time_embed.2.", "add_embedding.linear_1.": "label_emb.0.0.",
                "add_embedding.linear_2.": "label_emb.0.2.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
                "mid_block.resnets.0.": "middle_block.0.", "mid_block.attentions.0.": "middle_block.1.",
                "mid_block.resnets.1.": "middle_block.2."}
    for block in range(blocks):
        for layer in range(layers):
            index = 1 + block * (layers + 1) + layer
            prefixes[f"down_blocks.{block}.resnets.{layer}."] = f"input_blocks.{index}.0."
            prefixes[f"down_blocks.{block}.attentions.{layer}."] = f"input_blocks.{index}.1."
        if block < blocks - 1:
            prefixes[f"down_blocks.{block}.downsamplers.0.conv."] = f"input_blocks.{(block + 1) * (layers + 1)}.0.op."
        attends = "CrossAttn" in config.up_block_types[block]
        for layer in range(layers + 1):
            index = block * (layers + 1) + layer
            prefixes[f"up_blocks.{block}.resnets.{layer}."] = f"output_blocks.{index}.0."
            prefixes[f"up_blocks.{block}.attentions.{layer}."] = f"output_blocks.{index}.1."
        if block < blocks - 1:
            last = block * (layers + 1) + layers
            prefixes[f"up_blocks.{block}.upsamplers.0."] = f"output_blocks.{last}.{2 if attends else 1}."
    converted = {}
    for key, value in state.items():
        prefix = _longest_prefix(key, prefixes)
        rest = key[len(prefix):]
        if ".resnets." in prefix or prefix.startswith("mid_block.resnets"):
            rest = _renamed(rest, RESNET)
        converted[prefixes[prefix] + rest] = value
    return converted


def vae_keys(state: dict, config) -> dict:
    """The VAE's tensors by their original names: the decoder's up blocks count down, the
    mid block's resnets are block_1 and block_2, its attention's projections are 1x1
    convolutions, and conv_norm_out is norm_out."""
    ups = len(config.up_block_types)
    converted = {}
    for key, value in state.items():
        coder, _, rest = key.partition(".")
        parts = rest.split(".")
        if parts[0] in ("down_blocks", "up_blocks"):
            index = int(parts[1]) if parts[0] == "down_blocks" else ups - 1 - int(parts[1])
            level = f"{'down' if parts[0] == 'down_blocks' else 'up'}.{index}"
            if parts[2] == "resnets":
                name = f"{level}.block.{parts[3]}." + ".".join(parts[4:]).replace("conv_shortcut", "nin_shortcut")
            else:          # downsamplers.0.conv / upsamplers.0.conv
                name = f"{level}.{'downsample' if parts[2] == 'downsamplers' else 'upsample'}." + ".".join(parts[4:])
        elif parts[0] == "mid_block" and parts[1] == "resnets":
            name = f"mid.block_{int(parts[2]) + 1}." + ".".join(parts[3:])
        elif parts[0] == "mid_block":          # attentions.0
            name = "mid.attn_1." + _renamed(".".join(parts[3:]), VAE_ATTENTION)
            if value.ndim == 2:
                value = value[:, :, None, None]
        elif parts[0] == "conv_norm_out":
            name = "norm_out." + ".".join(parts[1:])
        else:
            name = rest
        converted[f"{coder}.{name}" if coder in ("encoder", "decoder") else key] = value
    return converted


def open_clip_keys(state: dict) -> dict:
    """The second text encoder's tensors by OpenCLIP's names: each layer's q, k and v
    projections fused into one in_proj, the text projection transposed."""
    import torch
    converted = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        key = key.removeprefix("text_model.")
        if key == "embeddings.token_embedding.weight":
            converted["token_embedding.weight"] = value
        elif key == "embeddings.position_embedding.weight":
            converted["positional_embedding"] = value
        elif key.startswith("final_layer_norm."):
            converted["ln_final." + key.split(".")[-1]] = value
        elif key == "text_projection.weight":
            converted["text_projection"] = value.T
        elif key.startswith("encoder.layers."):
            _, _, index, rest = key.split(".", 3)
            block = f"transformer.resblocks.{index}."
            if rest.startswith("self_attn.") and rest.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                projection, kind = rest.split(".")[1:3]
                fused.setdefault(block + f"attn.in_proj_{kind}", {})[projection] = value
            else:
                converted[block + _renamed(rest, OPEN_CLIP_LAYER)] = value
        elif key != "embeddings.position_ids":
            raise ValueError(f"no OpenCLIP name for {key}")
    for name, parts in fused.items():
        converted[name] = torch.cat([parts["q_proj"], parts["k_proj"], parts["v_proj"]])
    return converted


def _longest_prefix(key: str, prefixes: dict) -> str:
    found = max((p for p in prefixes if key.startswith(p)), key=len, default=None)
    if found is None:
        raise ValueError(f"no original name for UNet tensor {key}")
    return found


def _renamed(rest: str, pairs) -> str:
    for new, old in pairs:
        if rest.startswith(new):
            return old + rest[len(new):]
    return rest
