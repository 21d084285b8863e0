"""Stable Diffusion XL through the real diffusers pipelines: text-to-image for a new
design, image-to-image for "more like this" and reference photos, inpainting for a
painted region (with the original pixels pasted back outside the mask). The three
pipelines share one set of components; the speed LoRA and the store's style LoRAs that
are on are loaded with load_lora_weights, and set_adapters activates the speed LoRA and
the store's default style only (fused when asked). The jeweler changes styles from
another process, so before each round the generator looks at the lock file and, when it
changed, brings the loaded adapters in line with it.

One request reads top to bottom in `generate`: follow the store's style choice, choose
the pipeline, build and fit the prompt, encode it, run the denoising loop with a per-step
callback (progress, a cheap preview, cancel), then return the images with their seeds.

On the store's card the fast path (pipelines.speed) runs instead of plain diffusers:
LoRAs baked into the weights, fused projections, channels_last, the UNet and the VAE
decoder compiled for one fixed batch and warmed up before READY. Nothing in the loop
waits for the GPU on the CPU's behalf: a preview is copied off the card without a sync
and turned into a picture by whoever reads it (the worker's reporter thread).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import os
from pathlib import Path
from typing import Callable

from PIL import Image

from appliance.ops.models import SPEED_ADAPTER, ModelSpec, ModelStore, StyleLora, sha256_of
from appliance.studio.generation import DeviceLost
from pipelines import prompts, speed
from pipelines.base import GenerationCancelled, GenerationRequest, GenerationResult, Generator
from pipelines.speed import FastPath

log = logging.getLogger(__name__)

# Linear projection from SDXL's four latent channels to RGB: a preview without the VAE.
LATENT_RGB = ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362),
              (-0.3165, -0.2492, -0.2188))
LATENT_RGB_BIAS = (0.1084, -0.0175, -0.0011)
# A LoRA being compared by render_samples; style names start with a letter or digit.
SAMPLE_ADAPTER = "_sample"
FATAL_MARKERS = ("device-side assert", "illegal memory access", "CUDA error: unspecified launch failure",
                  "CUDA driver", "CUBLAS_STATUS_EXECUTION_FAILED", "an illegal instruction")


class GeneratorOutOfMemory(RuntimeError):
    """The GPU ran out of memory for this job; memory was freed and the next job can run."""


class GeneratorBroken(DeviceLost):
    """CUDA is unusable after this error: the worker must exit so systemd restarts it."""


class LatentPreview:
    """A small RGB picture straight from the latents (no VAE decode), for the progress
    widget. Made on the device and copied to (pinned) host memory without waiting: the
    denoising loop goes on, and `image()`, called by the worker's reporter thread, waits
    for the copy alone."""

    def __init__(self, latents, factors, bias):
        import torch
        rgb = latents[0].float().permute(1, 2, 0) @ factors + bias
        pixels = ((rgb + 1) / 2).clamp(0, 1).mul(255).to(torch.uint8)
        self._event = None
        if pixels.is_cuda:
            self._host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True)
            self._host.copy_(pixels, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
        else:
            self._host = pixels

    def image(self) -> Image.Image:
        if self._event is not None:
            self._event.synchronize()
        return Image.fromarray(self._host.numpy(), "RGB")


def latent_preview(latents) -> Image.Image:
    """The preview picture of a batch's first latents, at once."""
    import torch
    factors = torch.tensor(LATENT_RGB, dtype=torch.float32, device=latents.device)
    bias = torch.tensor(LATENT_RGB_BIAS, dtype=torch.float32, device=latents.device)
    return LatentPreview(latents, factors, bias).image()


class SDXLGenerator(Generator):
    name = "sdxl"
    default_size = 1024

    def __init__(self, models: ModelStore, *, device: str | None = None, steps: int | None = None,
                 guidance: float | None = None, strength: float = 0.55, preview_every: int = 2,
                 fuse_loras: bool = False, fast: FastPath | None = None, size: int | None = None):
        super().__init__()
        # None: plain diffusers (half precision on a GPU, float32 on the CPU), as before.
        self.fast = fast
        self.size = size                           # the size rounds are drawn at (warm-up shapes)
        self.baker: speed.LoraBaker | None = None
        self.watch = speed.RecompileWatch()
        self._preview_matrix = None
        self.models = models
        self.device = device
        self.steps = steps
        self.guidance = guidance
        self.strength = strength
        self.preview_every = preview_every
        self.fuse_loras = fuse_loras
        self.adapters: dict[str, float] = {}       # what customer rounds are drawn with, by adapter name
        self.triggers: list[str] = []
        self.style: StyleLora | None = None        # the store's style drawn with, if any
        self.follows_store = True                  # unload_loras stops following the lock
        self._speed_weight: float | None = None
        self._loaded_styles: dict[str, str] = {}   # style adapters in the pipeline -> their file's sha256
        self._lock_stamp: tuple | None = None
        self._fused = False

    @classmethod
    def from_pipeline(cls, pipe, *, steps: int, guidance: float, preview_every: int = 2, fast: FastPath | None = None,
                      loras: dict | None = None, size: int | None = None) -> "SDXLGenerator":
        """A generator around an already-built pipeline (benchmarks build full-size SDXL
        with random weights in memory rather than writing gigabytes to disk), with
        `loras` (adapter name -> (file, weight)) and the fast path applied as a load would."""
        import torch
        from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline
        gen = cls(models=None, steps=steps, guidance=guidance, preview_every=preview_every, fast=fast, size=size)
        gen._device, gen._dtype = pipe.device.type, pipe.unet.dtype
        gen._preview_matrix = (torch.tensor(LATENT_RGB, dtype=torch.float32, device=pipe.device),
                               torch.tensor(LATENT_RGB_BIAS, dtype=torch.float32, device=pipe.device))
        gen.txt2img = pipe
        loras = dict(loras or {})
        if loras and fast and fast.bake_loras:
            gen.baker = speed.LoraBaker(pipe)
            gen._bake(loras)
        elif loras:
            for name, (path, _) in loras.items():
                gen._load_lora(pipe, Path(path), name)
            pipe.set_adapters(list(loras), adapter_weights=[weight for _, weight in loras.values()])
        gen.adapters = {name: weight for name, (_, weight) in loras.items()}
        gen.img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(pipe)
        gen.inpaint = StableDiffusionXLInpaintPipeline.from_pipe(pipe)
        for p in (pipe, gen.img2img, gen.inpaint):
            p.set_progress_bar_config(disable=True)
        if fast:
            speed.apply(pipe, fast)
            if fast.compile:
                gen.warm_up()
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
        dtype = self.fast.torch_dtype if self.fast else (torch.float16 if device == "cuda" else torch.float32)
        components = {}
        if "vae" in by_kind:
            # The fp16-fixed VAE decodes in half precision without NaNs.
            components["vae"] = AutoencoderKL.from_pretrained(self.models.folder(by_kind["vae"]), dtype=dtype)
        checkpoint = self.models.checkpoint(by_kind["base"])
        if checkpoint is not None:
            # One file in Stability's original layout, its architecture read from the config
            # folder installed beside it: nothing is looked up on the hub.
            pipe = StableDiffusionXLPipeline.from_single_file(str(checkpoint.file), config=str(checkpoint.config),
                                                              local_files_only=True, dtype=dtype, **components)
        else:
            base_dir = self.models.folder(by_kind["base"])
            variant = "fp16" if any(base_dir.rglob("*.fp16.safetensors")) else None
            pipe = StableDiffusionXLPipeline.from_pretrained(base_dir, dtype=dtype, variant=variant, **components)
        pipe.set_progress_bar_config(disable=True)

        speed_spec = by_kind.get("speed_lora")
        self._speed_weight, self._loaded_styles, self._lock_stamp, self._fused = None, {}, None, False
        self._speed_path = speed_file(self.models, speed_spec) if speed_spec is not None else None
        self.follows_store = True
        if speed_spec is not None:
            if not (self.fast and self.fast.bake_loras):       # baked with the style in follow_store_styles
                self._load_lora(pipe, self._speed_path, SPEED_ADAPTER)
            self._speed_weight = float(speed_spec.options.get("weight", 1.0))
            # Few-step LoRAs are trained with trailing timesteps.
            pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
        self.txt2img = pipe
        self.baker = speed.LoraBaker(pipe) if self.fast and self.fast.bake_loras else None
        self.follow_store_styles()
        pipe.to(device)
        self.steps = self.steps or int(speed_spec.options.get("steps", 8) if speed_spec else 30)
        self.guidance = self.guidance if self.guidance is not None else (
            float(speed_spec.options.get("guidance", 0.0)) if speed_spec else 6.0)
        self._device, self._dtype = device, dtype
        self._preview_matrix = (torch.tensor(LATENT_RGB, dtype=torch.float32, device=device),
                                torch.tensor(LATENT_RGB_BIAS, dtype=torch.float32, device=device))
        self.img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(pipe)
        self.inpaint = StableDiffusionXLInpaintPipeline.from_pipe(pipe)
        for p in (self.img2img, self.inpaint):
            p.set_progress_bar_config(disable=True)
        if self.fast:
            speed.apply(pipe, self.fast)
            if self.fast.compile:
                self._warm_up_or_draw_uncompiled()
        log.info("sdxl loaded on %s (%s), %d steps, guidance %.1f, adapters %s; %s", device, dtype, self.steps,
                 self.guidance, self.adapters or "none", self.fast.reason if self.fast else "plain diffusers")

    def _warm_up_or_draw_uncompiled(self) -> None:
        """Warm up the compiled shapes; when compiling fails on this box (no C compiler for
        Triton, an unsupported card), draw uncompiled rather than not at all."""
        try:
            self.warm_up()
        except Exception as exc:  # noqa: BLE001 -- a compiler problem must not take SDXL away
            if any(marker in str(exc) for marker in FATAL_MARKERS):
                raise
            log.error("torch.compile failed (%s); drawing uncompiled, slower: see the install notes", exc)
            for module in (self.txt2img.unet, self.txt2img.vae.decoder):
                module._compiled_call_impl = None
            self.fast = dataclasses.replace(self.fast, compile=False)
            self.watch.after_warmup = None

    def warm_up(self) -> None:
        """Draw every shape the studio uses once (txt2img, img2img and inpainting, at the
        round size, as the fixed batch; the VAE decoding one image), so the compile happens
        now and no customer waits for it; later compiles are logged as defects."""
        from appliance.jewelry.specs import Spec
        size = _multiple_of_8(self.size or self.default_size)
        grey = Image.new("RGB", (size, size), (200, 200, 200))
        mask = Image.new("L", (size, size), 0)
        mask.paste(255, (size // 4, size // 4, size * 3 // 4, size * 3 // 4))
        count = max(1, self.fast.batch)
        for init, region in ((None, None), (grey, None), (grey, mask)):
            request = GenerationRequest(spec=Spec(), description="warm-up", count=count, seeds=list(range(count)),
                                        init_image=init, mask=region, width=size, height=size)
            self.generate(request, lambda fraction, preview=None: None, lambda: False)
        self.watch.warmed_up()
        log.info("sdxl warmed up: %d compiled graph(s) for %d px rounds of %d", self.watch.graphs(), size, count)

    @staticmethod
    def _load_lora(pipe, path: Path, name: str) -> None:
        # diffusers reads both its own/peft layout and kohya-style safetensors.
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)

    def follow_store_styles(self) -> None:
        """Bring the pipeline in line with the store's style choice when the lock file has
        changed since the last look (a stat per round otherwise): load styles switched on
        (only when their file still has the sha256 recorded at install), delete those
        switched off, removed or replaced, and activate the speed LoRA and the default
        style. A style that cannot be loaded is logged and left out of the round."""
        if self.models is None or not self.follows_store:
            return
        stamp = self._lock_stamp_now()
        if stamp == self._lock_stamp:
            return
        self._lock_stamp = stamp           # taken before reading: a change meanwhile is seen next round
        if self.baker is not None:
            self._follow_baked()
            return
        pipe = self.txt2img
        wanted = {style.name: style for style in self.models.styles() if style.enabled}
        self._unfuse(pipe)
        stale = [name for name, digest in self._loaded_styles.items()
                 if name not in wanted or wanted[name].sha256 != digest]
        if stale:
            pipe.delete_adapters(stale)
            for name in stale:
                del self._loaded_styles[name]
        for style in wanted.values():
            if style.name in self._loaded_styles:
                continue
            path = self.models.dir / style.file
            if not path.is_file() or sha256_of(path) != style.sha256:
                log.error("style LoRA %s: %s is missing or changed since it was installed; rounds are drawn "
                          "without it (run `diamra models verify`)", style.name, path)
                continue
            try:
                self._load_lora(pipe, path, style.name)
                problem = None if _has_adapter(pipe, style.name) else "no layer of this model matches it"
            except Exception as exc:  # noqa: BLE001 -- a LoRA for another model: the round goes on without it
                problem = str(exc)
            if problem:
                log.error("style LoRA %s could not be loaded (%s); rounds are drawn without it", style.name, problem)
                if _has_adapter(pipe, style.name):
                    pipe.delete_adapters(style.name)
                continue
            self._loaded_styles[style.name] = style.sha256
        self.style = next((s for s in wanted.values() if s.default and s.name in self._loaded_styles), None)
        self.adapters = {SPEED_ADAPTER: self._speed_weight} if self._speed_weight is not None else {}
        if self.style is not None:
            self.adapters[self.style.name] = self.style.weight
        self.triggers = [self.style.trigger] if self.style is not None and self.style.trigger else []
        self._activate(pipe, self.adapters, fuse=self.fuse_loras)
        log.info("sdxl styles: %s loaded, drawing with %s", ", ".join(self._loaded_styles) or "none",
                 self.style.name if self.style else "no style")

    def _follow_baked(self) -> None:
        """The fast path's version: the speed LoRA and the default style baked into the
        weights (in place; nothing compiled is invalidated), when they changed."""
        style = self.models.active_style()
        if style is not None:
            path = self.models.dir / style.file
            if not path.is_file() or sha256_of(path) != style.sha256:
                log.error("style LoRA %s: %s is missing or changed since it was installed; rounds are drawn "
                          "without it (run `diamra models verify`)", style.name, path)
                style = None
        loras = self._speed_lora()
        if style is not None:
            loras[style.name] = (self.models.dir / style.file, style.weight)
        if self.baker.baked == {name: weight for name, (_, weight) in loras.items()} and \
                (self.style.sha256 if self.style else None) == (style.sha256 if style else None):
            return
        try:
            self._bake(loras)
        except Exception as exc:  # noqa: BLE001 -- a LoRA for another model: drawn without the style
            if style is None:
                self._lock_stamp = None             # look again next round
                raise
            log.error("style LoRA %s could not be baked in (%s); rounds are drawn without it", style.name, exc)
            style, loras = None, self._speed_lora()
            try:
                self._bake(loras)
            except Exception:
                self._lock_stamp = None
                raise
        self.style = style
        self.adapters = {name: weight for name, (_, weight) in loras.items()}
        self.triggers = [style.trigger] if style is not None and style.trigger else []
        log.info("sdxl styles: drawing with %s (baked in)", style.name if style else "no style")

    def _speed_lora(self) -> dict:
        return {SPEED_ADAPTER: (self._speed_path, self._speed_weight)} if self._speed_path is not None else {}

    def _bake(self, loras: dict) -> None:
        self.baker.bake(loras, self._load_lora)
        speed.refresh_fused_projections(self.txt2img.unet, self.txt2img.vae)

    def _lock_stamp_now(self) -> tuple:
        # os.replace gives every lock write a new inode, so two writes in one clock tick differ too.
        try:
            st = self.models.lock_path.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _activate(self, pipe, adapters: dict[str, float], fuse: bool) -> None:
        """Only `adapters` act on the pipeline, at their weights; LoRAs loaded but not named
        there keep their memory but add no work to a step."""
        if self._speed_weight is None and not self._loaded_styles and SAMPLE_ADAPTER not in adapters:
            return                          # no LoRA layers in the pipeline at all
        if not adapters:
            pipe.disable_lora()
            return
        pipe.enable_lora()
        pipe.set_adapters(list(adapters), adapter_weights=list(adapters.values()))
        if fuse:
            pipe.fuse_lora(adapter_names=list(adapters))
            self._fused = True

    def _unfuse(self, pipe) -> None:
        if self._fused:
            pipe.unfuse_lora()
            self._fused = False

    def _unload(self) -> None:
        import torch
        for attr in ("txt2img", "img2img", "inpaint"):
            if hasattr(self, attr):
                delattr(self, attr)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def unload_loras(self) -> None:
        """Remove every LoRA and stop following the store's style choice (until the next
        load): the pipeline computes exactly what the base model does."""
        self._unfuse(self.txt2img)
        self.txt2img.unload_lora_weights()
        self.adapters, self.triggers, self.style = {}, [], None
        self._speed_weight, self._loaded_styles, self.follows_store = None, {}, False

    def count_tokens(self, text: str) -> int:
        return len(self.txt2img.tokenizer(text).input_ids)

    # ------------------------------------------------------------------ one request

    def generate(self, request: GenerationRequest, on_progress: Callable, is_cancelled: Callable[[], bool],
                 on_image: Callable | None = None) -> GenerationResult:
        # 0. Draw with the style the store chose (the jeweler may have changed it since the last round).
        self.follow_store_styles()
        style = self.style

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

        # 3. Encode it once for the whole round; 4. denoise, one generator per seed.
        # 5. Inpainting repaints the whole frame; keep the original outside the mask.
        seeds = list(request.seeds[: request.count])
        finish = None
        if mode == "inpaint":
            finish = lambda image: Image.composite(image, extra["image"], extra["mask_image"])  # noqa: E731
        images = self._draw(pipe, [self.encode(prompt, self.guidance > 1.0)] * len(seeds), seeds, width, height,
                            extra, on_progress, is_cancelled, on_image, finish)
        drawn_with = f"{mode}, style {style.name}" if style is not None else mode
        labels = [f"SDXL concept ({drawn_with}), seed {seed}" for seed in seeds]
        return GenerationResult(images=images, seeds=seeds, labels=labels)

    def _draw(self, pipe, embeds: list[dict], seeds: list[int], width: int, height: int, extra: dict,
              on_progress: Callable, is_cancelled: Callable[[], bool], on_image: Callable | None,
              finish: Callable | None = None) -> list:
        """One image per (embeddings, seed), drawn as one batch. On the fast path the batch
        is always `fast.batch` (spare seeds fill it; their images are dropped) and the VAE
        decodes one image at a time, each handed to `on_image` as soon as it is decoded."""
        import torch

        count = len(seeds)
        batch = max(count, self.fast.batch) if self.fast and self.fast.batch else count
        spare = [(seeds[-1] + 7919 * (i + 1)) % 2**31 for i in range(batch - count)]
        embeds = embeds + [embeds[-1]] * (batch - count)
        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds + spare]
        stacked = {key: torch.cat([e[key] for e in embeds]) for key in embeds[0]}
        steps, sliced = self.steps, bool(self.fast and self.fast.batch)
        if extra.get("strength"):
            # img2img runs int(steps x strength) steps: at least one, even for a little
            # change with a few-step speed LoRA.
            steps = max(steps, math.ceil(1 / extra["strength"] - 1e-9))
        factors, bias = self._preview_matrix

        def each_step(pipeline, step: int, timestep, tensors: dict):
            if is_cancelled():
                raise GenerationCancelled()
            preview = None
            if self.preview_every and (step + 1) % self.preview_every == 0 and "latents" in tensors:
                preview = LatentPreview(tensors["latents"], factors, bias)
            on_progress((step + 1) / steps, preview)
            return {}

        try:
            output = pipe(**stacked, num_images_per_prompt=1, generator=generators, num_inference_steps=steps,
                          guidance_scale=self.guidance, height=height, width=width, callback_on_step_end=each_step,
                          callback_on_step_end_tensor_inputs=["latents"],
                          output_type="latent" if sliced else "pil", **extra)
            finish = finish or (lambda image: image)
            if sliced:
                images = []
                for index in range(count):
                    images.append(finish(self._decode(pipe, output.images[index:index + 1])))
                    if on_image is not None:
                        on_image(index, images[-1])
            else:
                images = [finish(image) for image in output.images[:count]]
                if on_image is not None:
                    for index, image in enumerate(images):
                        on_image(index, image)
        except torch.cuda.OutOfMemoryError as exc:
            self._free_memory()
            raise GeneratorOutOfMemory("The GPU ran out of memory drawing this round; please try again with "
                                       "fewer images.") from exc
        except RuntimeError as exc:
            if any(marker in str(exc) for marker in FATAL_MARKERS):
                raise GeneratorBroken(f"CUDA became unusable: {exc}") from exc
            raise
        self.watch.check(f"a {width} px round of {count}")
        return images

    @staticmethod
    def _decode(pipe, latents) -> Image.Image:
        """One image's latents to a picture, the way the pipeline's own decode does it."""
        import torch
        vae = pipe.vae
        with torch.no_grad():
            latents = latents.to(vae.dtype)
            mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
            if mean is not None and std is not None:
                mean = torch.tensor(mean).view(1, 4, 1, 1).to(latents.device, latents.dtype)
                std = torch.tensor(std).view(1, 4, 1, 1).to(latents.device, latents.dtype)
                latents = latents * std / vae.config.scaling_factor + mean
            else:
                latents = latents / vae.config.scaling_factor
            pixels = vae.decode(latents, return_dict=False)[0]
        if getattr(pipe, "watermark", None) is not None:
            pixels = pipe.watermark.apply_watermark(pixels)
        return pipe.image_processor.postprocess(pixels, output_type="pil")[0]

    def render_samples(self, specs: list, seeds: list[int], trigger: str, lora: Path | None,
                       size: int) -> list[Image.Image]:
        """One image per (spec, seed) pair, drawn with the speed LoRA only, plus `lora` (at
        weight 1) when given: a style in training compared with and without its LoRA on
        fixed prompts. The store's style is left out; afterwards the LoRAs are exactly as
        customer rounds had them, and the same arguments give the same images."""
        size = _multiple_of_8(size)
        guided = self.guidance > 1.0
        embeds = [self.encode(prompts.fit(prompts.prompt_parts(spec, triggers=[trigger]), self.count_tokens)[0],
                              guided) for spec in specs]
        quiet = (lambda fraction, preview=None: None), (lambda: False)
        if self.baker is not None:
            loras = self._speed_lora()
            if lora is not None:
                loras[SAMPLE_ADAPTER] = (Path(lora), 1.0)
            try:
                self._bake(loras)
                return self._draw(self.txt2img, embeds, list(seeds), size, size, {}, *quiet, None)
            finally:
                # Back to what customer rounds are drawn with, as the lock says now (the
                # jeweler may have switched or removed the style meanwhile).
                self.baker.baked, self.style, self._lock_stamp = {"_": 0.0}, None, None
                if self.models is not None:
                    self.follow_store_styles()
                else:
                    self._bake(self._speed_lora())
        pipe = self.txt2img
        adapters = {SPEED_ADAPTER: self._speed_weight} if self._speed_weight is not None else {}
        self._unfuse(pipe)
        try:
            if lora is not None:
                self._load_lora(pipe, Path(lora), SAMPLE_ADAPTER)
                adapters[SAMPLE_ADAPTER] = 1.0
            self._activate(pipe, adapters, fuse=False)
            # One at a time, as before: each sample its own batch of one.
            return [self._draw(pipe, [e], [seed], size, size, {}, *quiet, None)[0] for e, seed in zip(embeds, seeds)]
        finally:
            if _has_adapter(pipe, SAMPLE_ADAPTER):
                pipe.delete_adapters(SAMPLE_ADAPTER)
            self._activate(pipe, self.adapters, fuse=self.fuse_loras)

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


def _has_adapter(pipe, name: str) -> bool:
    return any(name in names for names in pipe.get_list_adapters().values())


def _multiple_of_8(size: int) -> int:
    return max(8, int(size) // 8 * 8)
