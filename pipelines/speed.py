"""SDXL's fast path: what the fastest SDXL deployments do, chosen from the settings and
the card, applied once at load.

- Half precision (fp16 with the fp16-fixed VAE; bf16 when the settings ask), PyTorch's
  SDPA attention, the UNet's and VAE's query/key/value projections fused into one
  matmul, channels_last memory for the convolutions.
- LoRAs baked in: the speed LoRA and the store's default style are fused into the
  weights and their PEFT layers removed, so a step runs plain Linear layers. Before
  other LoRAs are baked (the jeweler switched the style, or a style in training draws
  its samples) the touched weights are restored in place from a copy taken before the
  first bake, so module objects never change and nothing compiled is invalidated.
- torch.compile of the UNet and the VAE decoder with fixed shapes: every round is drawn
  as one batch of `batch` images (a smaller round is padded with spare seeds, whose
  images are dropped), guidance doubles a known batch, and the VAE decodes one image at
  a time (less memory on a 24 GB card, and each image is ready as soon as it is
  decoded). Every shape is drawn once before the worker reports READY, and a compile
  after that is logged as a defect (`RecompileWatch`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

_BAKED_COMPONENTS = ("unet", "text_encoder", "text_encoder_2")


@dataclass(frozen=True)
class FastPath:
    """How the generator runs; `plain()` is diffusers as it comes."""
    dtype: str = "float32"              # float16 | bfloat16 | float32
    fuse_qkv: bool = False
    channels_last: bool = False
    bake_loras: bool = False
    compile: bool = False
    compile_backend: str = "inductor"
    compile_mode: str | None = None
    batch: int = 0                      # 0: a round's own count; else every round is drawn as this many
    # Memory on smaller cards: the plain path decodes a round one image at a time (the fast
    # path always does); under 16 GB the VAE decodes in tiles (then it is not compiled:
    # the edge tiles' shapes differ).
    vae_slicing: bool = False
    vae_tiling: bool = False
    reason: str = "plain diffusers"

    @classmethod
    def plain(cls, dtype: str = "float32") -> "FastPath":
        return cls(dtype=dtype)

    @property
    def torch_dtype(self):
        import torch
        return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[self.dtype]


def choose(setting: str, device: str, dtype_setting: str = "auto", backend: str = "inductor",
           batch: int = 4, card_gib: float | None = None, mode: str = "default") -> FastPath:
    """The fast path for `sdxl_fast` (auto | on | off) on this device: on a CUDA card
    everything; on the CPU (tests, a machine without a GPU) plain float32 unless asked.
    `card_gib`, the card's memory, turns on the VAE's memory savers where it is small.
    `mode` is inductor's: default, or max-autotune (GEMM and convolution kernels tuned
    at the warm-up, without CUDA graphs, whose static buffers the previews would read)."""
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"sdxl_fast must be auto, on or off, not {setting!r}")
    if dtype_setting not in ("auto", "fp16", "bf16", "fp32"):
        raise ValueError(f"sdxl_dtype must be auto, fp16, bf16 or fp32, not {dtype_setting!r}")
    on_gpu = str(device).startswith("cuda")
    dtype = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}.get(
        dtype_setting, "float16" if on_gpu else "float32")
    small = card_gib is not None and card_gib < 40
    tiny = card_gib is not None and card_gib < 16
    if setting == "off" or (setting == "auto" and not on_gpu):
        return FastPath(dtype=dtype, vae_slicing=small, vae_tiling=tiny,
                        reason=f"plain diffusers ({dtype}{', VAE sliced' if small else ''}"
                               f"{', VAE tiled' if tiny else ''})")
    return FastPath(dtype=dtype, fuse_qkv=True, channels_last=True, bake_loras=True, compile=True,
                    compile_backend=backend, compile_mode=_inductor_mode(mode, backend, on_gpu),
                    batch=batch, vae_tiling=tiny,
                    reason=f"fast path on {device}: {dtype}, fused QKV, channels_last, LoRAs baked, "
                           f"compiled ({backend}) for batches of {batch}{', VAE tiled' if tiny else ''}")


def _inductor_mode(mode: str, backend: str, on_gpu: bool) -> str | None:
    if mode not in ("default", "max-autotune"):
        raise ValueError(f"sdxl_compile_mode must be default or max-autotune, not {mode!r}")
    if mode == "default" or backend != "inductor" or not on_gpu:
        return None
    return "max-autotune-no-cudagraphs"


class LoraBaker:
    """Fuses LoRAs into a pipeline's weights and removes their layers; can take them out
    again by restoring the touched weights in place (from a CPU copy of their values as
    loaded), so the modules stay the same objects."""

    def __init__(self, pipe):
        self.pipe = pipe
        self._original: dict[tuple[str, str], object] = {}    # (component, parameter) -> CPU tensor
        self.baked: dict[str, float] = {}

    def bake(self, loras: dict[str, tuple[str, float]], load) -> None:
        """Make exactly `loras` (adapter name -> (file, weight)) part of the weights.
        `load(pipe, path, name)` loads one LoRA file as a PEFT adapter."""
        import torch
        pipe = self.pipe
        self.restore()
        if not loras:
            return
        try:
            for name, (path, _) in loras.items():
                load(pipe, path, name)
                with torch.no_grad():
                    self._remember_touched()
            pipe.set_adapters(list(loras), adapter_weights=[weight for _, weight in loras.values()])
            pipe.fuse_lora(adapter_names=list(loras))
            pipe.unload_lora_weights()
        except BaseException:
            # Nothing half-baked: no LoRA layer left behind, every touched weight as loaded.
            pipe.unload_lora_weights()
            self.baked = dict.fromkeys(loras, 0.0)
            self.restore()
            raise
        self.baked = {name: weight for name, (_, weight) in loras.items()}

    def restore(self) -> None:
        """The weights as loaded, in place (no LoRA baked)."""
        import torch
        if not self.baked:
            return
        with torch.no_grad():
            for (component, name), value in self._original.items():
                parameter = _parameter(getattr(self.pipe, component), name)
                parameter.copy_(value.to(parameter.device, parameter.dtype))
        self.baked = {}

    def _remember_touched(self) -> None:
        """Copy (once) the current values of every weight a loaded LoRA layer wraps."""
        from peft.tuners.tuners_utils import BaseTunerLayer
        for component in _BAKED_COMPONENTS:
            model = getattr(self.pipe, component, None)
            if model is None:
                continue
            for module_name, module in model.named_modules():
                if not isinstance(module, BaseTunerLayer):
                    continue
                for param_name, parameter in module.get_base_layer().named_parameters(recurse=False):
                    key = (component, f"{module_name}.{param_name}")
                    if key not in self._original:
                        copy = parameter.detach().to("cpu", copy=True)
                        self._original[key] = copy.pin_memory() if parameter.is_cuda else copy


def _parameter(model, dotted: str):
    """A parameter by the name it had when its module was wrapped by a LoRA layer
    ('…to_q.weight'; the wrapper's '.base_layer' is gone once the LoRA is removed)."""
    names = dotted.replace(".base_layer.", ".").split(".")
    target = model
    for part in names:
        target = getattr(target, part)
    return target


def refresh_fused_projections(*models) -> int:
    """Copy the q, k, v weights into the fused projections in place (after a bake changed
    them); returns how many attention layers were refreshed."""
    import torch
    from diffusers.models.attention_processor import Attention
    refreshed = 0
    with torch.no_grad():
        for model in models:
            for module in model.modules():
                if not isinstance(module, Attention) or not getattr(module, "fused_projections", False):
                    continue
                if hasattr(module, "to_qkv"):
                    module.to_qkv.weight.copy_(torch.cat([module.to_q.weight, module.to_k.weight,
                                                          module.to_v.weight]))
                    if module.to_qkv.bias is not None:
                        module.to_qkv.bias.copy_(torch.cat([module.to_q.bias, module.to_k.bias, module.to_v.bias]))
                if hasattr(module, "to_kv"):
                    module.to_kv.weight.copy_(torch.cat([module.to_k.weight, module.to_v.weight]))
                    if module.to_kv.bias is not None:
                        module.to_kv.bias.copy_(torch.cat([module.to_k.bias, module.to_v.bias]))
                refreshed += 1
    return refreshed


def apply(pipe, fast: FastPath) -> None:
    """Fused projections, channels_last and compilation, on a pipeline already on its device
    with its LoRAs baked."""
    import torch
    if fast.fuse_qkv:
        pipe.fuse_qkv_projections(unet=True, vae=True)
    if fast.channels_last:
        # The VAE's encoder stays as it is: its latents (img2img, inpainting) then reach the
        # UNet with the same strides as txt2img's, one compiled graph for all three.
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.decoder.to(memory_format=torch.channels_last)
        pipe.vae.post_quant_conv.to(memory_format=torch.channels_last)
    if pipe.vae.dtype == torch.float16 and getattr(pipe.vae.config, "force_upcast", False):
        # SDXL's own VAE overflows in fp16; the manifest's fp16-fixed VAE does not.
        log.error("the VAE asks for float32 but runs in fp16: install the manifest's fp16-fixed VAE "
                  "(diamra models pull vae), or pictures may come out black")
    # Inference only: no weight asks for a gradient, now or after a LoRA is baked in (PEFT
    # marks the weights it wraps), so no compiled guard on requires_grad ever fails.
    for component in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if getattr(pipe, component, None) is not None:
            getattr(pipe, component).requires_grad_(False)
    if fast.vae_slicing:
        pipe.vae.enable_slicing()
    if fast.vae_tiling:
        pipe.vae.enable_tiling()
    if fast.compile:
        options = {"fullgraph": True, "dynamic": False, "backend": fast.compile_backend}
        if fast.compile_mode:
            options["mode"] = fast.compile_mode
        pipe.unet.compile(**options)
        if not fast.vae_tiling:
            pipe.vae.decoder.compile(**options)


class RecompileWatch:
    """Counts the graphs torch.compile has made; after the warm-up any new one is a defect:
    a customer waited for a compile."""

    def __init__(self):
        self.after_warmup: int | None = None

    @staticmethod
    def graphs() -> int:
        from torch._dynamo.utils import counters
        return int(counters["stats"]["unique_graphs"])

    def warmed_up(self) -> None:
        self.after_warmup = self.graphs()

    def check(self, what: str) -> int:
        """New graphs since the warm-up (logged as an error when any)."""
        if self.after_warmup is None:
            return 0
        new = self.graphs() - self.after_warmup
        if new:
            log.error("DEFECT: %s compiled %d new graph(s) after the warm-up; a customer waited for it. "
                      "Every shape the studio draws must be warmed up before READY.", what, new)
            self.after_warmup = self.graphs()
        return new
