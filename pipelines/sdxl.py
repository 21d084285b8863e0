"""Stable Diffusion XL through the real diffusers pipelines: text-to-image for a new
design, image-to-image for "more like this" and reference photos, inpainting for a
painted region (with the original pixels pasted back outside the mask). The three
pipelines share one set of components; the speed LoRA and the store's style LoRAs are
loaded once with load_lora_weights and weighted with set_adapters (fused when asked).

One request reads top to bottom in `generate`: choose the pipeline, build and fit the
prompt, encode it, run the denoising loop with a per-step callback (progress, a cheap
preview, cancel), then return the images with their seeds.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Callable

from PIL import Image

from appliance.ops.models import ModelSpec, ModelStore
from pipelines import prompts
from pipelines.base import GenerationCancelled, GenerationRequest, GenerationResult, Generator

log = logging.getLogger(__name__)

# Linear projection from SDXL's four latent channels to RGB: a preview without the VAE.
LATENT_RGB = ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362),
              (-0.3165, -0.2492, -0.2188))
LATENT_RGB_BIAS = (0.1084, -0.0175, -0.0011)
_FATAL_MARKERS = ("device-side assert", "illegal memory access", "CUDA error: unspecified launch failure",
                  "CUDA driver", "CUBLAS_STATUS_EXECUTION_FAILED", "an illegal instruction")


class GeneratorOutOfMemory(RuntimeError):
    """The GPU ran out of memory for this job; memory was freed and the next job can run."""


class GeneratorBroken(RuntimeError):
    """CUDA is unusable after this error: the worker must exit so systemd restarts it."""
    fatal = True


def latent_preview(latents) -> Image.Image:
    """A small RGB image straight from the latents (no VAE decode), for the progress widget."""
    import torch
    factors = torch.tensor(LATENT_RGB, dtype=torch.float32, device=latents.device)
    bias = torch.tensor(LATENT_RGB_BIAS, dtype=torch.float32, device=latents.device)
    rgb = latents[0].float().permute(1, 2, 0) @ factors + bias
    pixels = ((rgb + 1) / 2).clamp(0, 1).mul(255).byte().cpu().numpy()
    return Image.fromarray(pixels, "RGB")


class SDXLGenerator(Generator):
    name = "sdxl"
    default_size = 1024

    def __init__(self, models: ModelStore, *, device: str | None = None, steps: int | None = None,
                 guidance: float | None = None, strength: float = 0.55, preview_every: int = 2,
                 fuse_loras: bool = False):
        super().__init__()
        self.models = models
        self.device = device
        self.steps = steps
        self.guidance = guidance
        self.strength = strength
        self.preview_every = preview_every
        self.fuse_loras = fuse_loras
        self.adapters: dict[str, float] = {}
        self.triggers: list[str] = []

    @classmethod
    def from_pipeline(cls, pipe, *, steps: int, guidance: float, preview_every: int = 2) -> "SDXLGenerator":
        """A generator around an already-built pipeline (benchmarks build full-size SDXL
        with random weights in memory rather than writing gigabytes to disk)."""
        from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline
        gen = cls(models=None, steps=steps, guidance=guidance, preview_every=preview_every)
        gen._device, gen._dtype = pipe.device.type, pipe.unet.dtype
        gen.txt2img = pipe
        gen.img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(pipe)
        gen.inpaint = StableDiffusionXLInpaintPipeline.from_pipe(pipe)
        gen.loaded = True
        return gen

    # ------------------------------------------------------------------ loading

    def _load(self) -> None:
        import torch
        from diffusers import (
            AutoencoderKL,
            EulerDiscreteScheduler,
            StableDiffusionXLImg2ImgPipeline,
            StableDiffusionXLInpaintPipeline,
            StableDiffusionXLPipeline,
        )

        # Weights come from the data folder only; a request never reaches the hub.
        os.environ["HF_HUB_OFFLINE"] = "1"
        manifest = self.models.manifest()
        by_kind = {spec.kind: spec for spec in manifest.values()}
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float16 if device == "cuda" else torch.float32
        base_dir = self.models.folder(by_kind["base"])
        variant = "fp16" if any(base_dir.rglob("*.fp16.safetensors")) else None
        components = {}
        if "vae" in by_kind:
            # The fp16-fixed VAE decodes in half precision without NaNs.
            components["vae"] = AutoencoderKL.from_pretrained(self.models.folder(by_kind["vae"]), dtype=dtype)
        pipe = StableDiffusionXLPipeline.from_pretrained(base_dir, dtype=dtype, variant=variant, **components)
        pipe.set_progress_bar_config(disable=True)

        speed = by_kind.get("speed_lora")
        self.adapters, self.triggers = {}, []
        if speed is not None:
            self._load_lora(pipe, speed_file(self.models, speed), "speed")
            self.adapters["speed"] = float(speed.options.get("weight", 1.0))
            # Few-step LoRAs are trained with trailing timesteps.
            pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
        for style in self.models.styles():
            self._load_lora(pipe, self.models.dir / style.file, style.name)
            self.adapters[style.name] = style.weight
            if style.trigger:
                self.triggers.append(style.trigger)
        if self.adapters:
            pipe.set_adapters(list(self.adapters), adapter_weights=list(self.adapters.values()))
            if self.fuse_loras:
                pipe.fuse_lora(adapter_names=list(self.adapters))
        pipe.to(device)
        self.steps = self.steps or int(speed.options.get("steps", 8) if speed else 30)
        self.guidance = self.guidance if self.guidance is not None else (
            float(speed.options.get("guidance", 0.0)) if speed else 6.0)
        self._device, self._dtype = device, dtype
        self.txt2img = pipe
        self.img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(pipe)
        self.inpaint = StableDiffusionXLInpaintPipeline.from_pipe(pipe)
        for p in (self.img2img, self.inpaint):
            p.set_progress_bar_config(disable=True)
        log.info("sdxl loaded on %s (%s), %d steps, guidance %.1f, adapters %s", device, dtype, self.steps,
                 self.guidance, self.adapters or "none")

    @staticmethod
    def _load_lora(pipe, path: Path, name: str) -> None:
        # diffusers reads both its own/peft layout and kohya-style safetensors.
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)

    def _unload(self) -> None:
        import torch
        for attr in ("txt2img", "img2img", "inpaint"):
            if hasattr(self, attr):
                delattr(self, attr)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def unload_loras(self) -> None:
        """Remove every LoRA: the pipeline computes exactly what the base model does."""
        self.txt2img.unload_lora_weights()
        self.adapters, self.triggers = {}, []

    def count_tokens(self, text: str) -> int:
        return len(self.txt2img.tokenizer(text).input_ids)

    # ------------------------------------------------------------------ one request

    def generate(self, request: GenerationRequest, on_progress: Callable, is_cancelled: Callable[[], bool]) -> GenerationResult:
        import torch

        # 1. Choose the pipeline and its inputs.
        width = height = _multiple_of_8(request.width or self.default_size)
        mode, pipe, extra = "txt2img", self.txt2img, {}
        if request.init_image is not None and request.mask is not None:
            mode, pipe = "inpaint", self.inpaint
            init = request.init_image.convert("RGB").resize((width, height), Image.LANCZOS)
            mask = request.mask.convert("L").resize((width, height), Image.NEAREST)
            extra = {"image": init, "mask_image": mask, "strength": 0.99}
        elif request.init_image is not None:
            mode, pipe = "img2img", self.img2img
            init = request.init_image.convert("RGB").resize((width, height), Image.LANCZOS)
            extra = {"image": init, "strength": request.strength or self.strength}

        # 2. Build the prompt and fit it to the text encoders.
        parts = prompts.prompt_parts(request.spec, request.description, request.instruction, self.triggers)
        prompt, dropped = prompts.fit(parts, self.count_tokens)
        if dropped:
            log.info("prompt over %d tokens; left out: %s", prompts.MAX_TOKENS, " | ".join(dropped))

        # 3. Encode it once for the whole round.
        guided = self.guidance > 1.0
        embeds = self.encode(prompt, guided)

        # 4. Denoise, one generator per image so each seed reproduces its own image.
        seeds = list(request.seeds[: request.count])
        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
        steps = self.steps

        def each_step(pipeline, step: int, timestep, tensors: dict):
            if is_cancelled():
                raise GenerationCancelled()
            preview = None
            if self.preview_every and (step + 1) % self.preview_every == 0 and "latents" in tensors:
                preview = latent_preview(tensors["latents"])
            on_progress((step + 1) / steps, preview)
            return {}

        try:
            output = pipe(**embeds, num_images_per_prompt=len(seeds), generator=generators,
                          num_inference_steps=steps, guidance_scale=self.guidance, height=height, width=width,
                          callback_on_step_end=each_step, callback_on_step_end_tensor_inputs=["latents"],
                          output_type="pil", **extra)
        except torch.cuda.OutOfMemoryError as exc:
            self._free_memory()
            raise GeneratorOutOfMemory("The GPU ran out of memory drawing this round; please try again with "
                                       "fewer images.") from exc
        except RuntimeError as exc:
            if any(marker in str(exc) for marker in _FATAL_MARKERS):
                raise GeneratorBroken(f"CUDA became unusable: {exc}") from exc
            raise

        # 5. Inpainting repaints the whole frame; keep the original outside the mask.
        images = output.images
        if mode == "inpaint":
            images = [Image.composite(image, extra["image"], extra["mask_image"]) for image in images]
        labels = [f"SDXL concept ({mode}), seed {seed}" for seed in seeds]
        return GenerationResult(images=images, seeds=seeds, labels=labels)

    def encode(self, prompt: str, guided: bool) -> dict:
        """Prompt embeddings for both text encoders (and the negative prompt when guided)."""
        import torch
        with torch.no_grad():
            embeds, negative, pooled, negative_pooled = self.txt2img.encode_prompt(
                prompt=prompt, device=self._device, num_images_per_prompt=1,
                do_classifier_free_guidance=guided, negative_prompt=prompts.NEGATIVE if guided else None)
        result = {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
        if guided:
            result.update(negative_prompt_embeds=negative, negative_pooled_prompt_embeds=negative_pooled)
        return result

    def _free_memory(self) -> None:
        import torch
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def speed_file(models: ModelStore, spec: ModelSpec) -> Path:
    """The speed LoRA's one safetensors file."""
    return models.folder(spec) / next(iter(spec.files))


def _multiple_of_8(size: int) -> int:
    return max(8, int(size) // 8 * 8)
