"""The photos a style LoRA learns from, and what the trainer actually feeds the UNet.

A store's photo is resized so its short side is the training resolution and cropped to a
square (centred, or at a seeded random place), and SDXL's micro-conditioning records the
truth about it: the size it was photographed at, the top-left corner of the crop taken,
and the size trained at. Each photo's latents (VAE, times its scaling factor) and its
caption's embeddings (both text encoders) are computed once and cached in memory and in
the job's folder, so a resumed job never reloads the VAE or the text encoders and they
are freed before the UNet trains.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

CACHE_VERSION = 1


@dataclass(frozen=True)
class TrainingPhoto:
    """One photo of the store's pieces and the caption it is trained with."""
    path: Path
    caption: str
    sha256: str = ""        # the file's sha256 when the caller knows it (then it is not read again)


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo at training size, with the facts SDXL is conditioned on."""
    pixels: "object"                   # torch tensor (3, size, size) in [-1, 1]
    original_size: tuple[int, int]     # (height, width) as photographed, after EXIF rotation
    crop_top_left: tuple[int, int]     # (top, left) of the crop in the resized photo
    target_size: tuple[int, int]       # (height, width) trained at


@dataclass
class TrainingExample:
    """What one training step reads for one photo: no VAE or text encoder needed."""
    latents: "object"                  # (4, size/8, size/8), already times the VAE's scaling factor
    prompt_embeds: "object"            # (77, 2048) for SDXL: both encoders' penultimate states
    pooled_prompt_embeds: "object"     # (1280,) for SDXL: text_encoder_2's projection
    time_ids: "object"                 # (6,): original_size + crop_top_left + target_size


def prepare_photo(path: Path, resolution: int, center_crop: bool = True,
                  rng: random.Random | None = None) -> PreparedPhoto:
    """The photo resized (short side = resolution), cropped square, as a tensor in [-1, 1],
    with its true original size and the crop taken."""
    import torch
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    original_size = (image.height, image.width)
    scale = resolution / min(image.width, image.height)
    width = max(resolution, round(image.width * scale))
    height = max(resolution, round(image.height * scale))
    image = image.resize((width, height), Image.BILINEAR)
    if center_crop:
        top, left = round((height - resolution) / 2.0), round((width - resolution) / 2.0)
    else:
        rng = rng or random.Random(0)
        top, left = rng.randint(0, height - resolution), rng.randint(0, width - resolution)
    image = image.crop((left, top, left + resolution, top + resolution))
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    pixels = torch.from_numpy(array).permute(2, 0, 1).contiguous()
    return PreparedPhoto(pixels, original_size, (top, left), (resolution, resolution))


def time_ids(photo: PreparedPhoto) -> list[int]:
    """SDXL's add_time_ids for a photo: (original_size, crops_coords_top_left, target_size)."""
    return [*photo.original_size, *photo.crop_top_left, *photo.target_size]


class Encoders:
    """The frozen VAE and both text encoders with their tokenizers, used only to fill the cache."""

    def __init__(self, vae, tokenizers, text_encoders, device: str = "cpu"):
        self.vae, self.tokenizers, self.text_encoders, self.device = vae, tokenizers, text_encoders, device

    def encode_prompt(self, caption: str):
        """(prompt_embeds, pooled) exactly as SDXL's pipeline computes them for one prompt:
        each encoder's penultimate hidden states concatenated, text_encoder_2's pooled output."""
        import torch
        states, pooled = [], None
        with torch.no_grad():
            for tokenizer, encoder in zip(self.tokenizers, self.text_encoders, strict=True):
                ids = tokenizer(caption, padding="max_length", max_length=tokenizer.model_max_length,
                                truncation=True, return_tensors="pt").input_ids.to(self.device)
                output = encoder(ids, output_hidden_states=True)
                pooled = output[0]
                states.append(output.hidden_states[-2])
        return torch.cat(states, dim=-1)[0].float().cpu(), pooled[0].float().cpu()

    def encode_pixels(self, pixels, seed: int):
        """Latents of one photo: a seeded sample of the VAE's posterior times its scaling factor."""
        import torch
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            batch = pixels[None].to(self.device, self.vae.dtype)
            latents = self.vae.encode(batch).latent_dist.sample(generator=generator)
        return (latents[0] * self.vae.config.scaling_factor).float().cpu()

    def free(self) -> None:
        """Drop the models so the UNet has the memory."""
        import torch
        self.vae = self.tokenizers = self.text_encoders = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def load_encoders(base_dir: Path, vae_dir: Path | None = None, device: str = "cpu") -> Encoders:
    """The VAE (the separate fp16-fixed one when given) and both text encoders of a base
    model folder, in float32 (they run once per photo, so precision costs nothing)."""
    import torch
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    base_dir = Path(base_dir)
    variant = "fp16" if any(base_dir.rglob("*.fp16.safetensors")) else None
    if vae_dir is not None:
        vae = AutoencoderKL.from_pretrained(vae_dir, dtype=torch.float32)
    else:
        vae = AutoencoderKL.from_pretrained(base_dir, subfolder="vae", variant=variant, dtype=torch.float32)
    tokenizers = (CLIPTokenizer.from_pretrained(base_dir, subfolder="tokenizer"),
                  CLIPTokenizer.from_pretrained(base_dir, subfolder="tokenizer_2"))
    text_encoders = (
        CLIPTextModel.from_pretrained(base_dir, subfolder="text_encoder", variant=variant, dtype=torch.float32),
        CLIPTextModelWithProjection.from_pretrained(base_dir, subfolder="text_encoder_2", variant=variant,
                                                    dtype=torch.float32))
    for model in (vae, *text_encoders):
        model.requires_grad_(False).eval().to(device)
    return Encoders(vae, tokenizers, text_encoders, device)


def load_checkpoint_encoders(file: Path, config_dir: Path, vae_dir: Path | None = None,
                             device: str = "cpu") -> Encoders:
    """The VAE (the separate fp16-fixed one when given), tokenizers and both text encoders
    of a single-file base, in float32; its UNet is not loaded."""
    import torch
    from diffusers import AutoencoderKL, StableDiffusionXLPipeline

    parts = {"unet": None}
    if vae_dir is not None:
        parts["vae"] = AutoencoderKL.from_pretrained(vae_dir, dtype=torch.float32)
    pipe = StableDiffusionXLPipeline.from_single_file(str(file), config=str(config_dir), local_files_only=True,
                                                      dtype=torch.float32, **parts)
    text_encoders = (pipe.text_encoder, pipe.text_encoder_2)
    for model in (pipe.vae, *text_encoders):
        model.requires_grad_(False).eval().to(device)
    return Encoders(pipe.vae, (pipe.tokenizer, pipe.tokenizer_2), text_encoders, device)


def cache_key(photo: TrainingPhoto, resolution: int, center_crop: bool, seed: int) -> str:
    """Names one photo's cached example: its bytes, caption and how it was cropped."""
    digest = hashlib.sha256()
    digest.update(bytes.fromhex(photo.sha256) if photo.sha256 else Path(photo.path).read_bytes())
    digest.update(json.dumps([CACHE_VERSION, photo.caption, resolution, center_crop, seed]).encode())
    return digest.hexdigest()


def cache_examples(photos: list[TrainingPhoto], load: Callable[[], Encoders], folder: Path, *, resolution: int,
                   center_crop: bool, seed: int,
                   should_yield: Callable[[], bool] = lambda: False) -> list[TrainingExample] | None:
    """Every photo's training example, read from `folder` or computed once and written
    there. The encoders are loaded only when something is missing and freed before
    returning. None when `should_yield` asked to stop (what was computed is kept)."""
    import torch
    from safetensors.torch import load_file, save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    examples: list[TrainingExample] = []
    encoders: Encoders | None = None
    try:
        for photo in photos:
            key = cache_key(photo, resolution, center_crop, seed)
            path = folder / f"{key}.safetensors"
            if not path.exists():
                if should_yield():
                    return None
                if encoders is None:
                    encoders = load()
                # The random crop is seeded by the photo itself, so it survives a restart.
                prepared = prepare_photo(photo.path, resolution, center_crop, random.Random(f"{seed}:{key}"))
                embeds, pooled = encoders.encode_prompt(photo.caption)
                latents = encoders.encode_pixels(prepared.pixels, seed=int(key[:8], 16) ^ seed)
                tensors = {"latents": latents, "prompt_embeds": embeds, "pooled_prompt_embeds": pooled,
                           "time_ids": torch.tensor(time_ids(prepared), dtype=torch.float32)}
                partial = path.with_suffix(".part")
                save_file({k: v.contiguous() for k, v in tensors.items()}, partial)
                partial.replace(path)
            tensors = load_file(path)
            examples.append(TrainingExample(tensors["latents"], tensors["prompt_embeds"],
                                            tensors["pooled_prompt_embeds"], tensors["time_ids"]))
    finally:
        if encoders is not None:
            encoders.free()
    return examples
