"""The one registry that names the generator backends, and the choice among them
(`auto`, `sketch`, `sdxl`) with the reason for it. Each builder imports its backend (and
torch) only when chosen."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable

from appliance.config import Settings
from pipelines.base import Generator

log = logging.getLogger(__name__)


class GeneratorUnavailable(RuntimeError):
    """A backend cannot run on this machine; the message says why."""


def _sketch(settings: Settings) -> Generator:
    from pipelines.sketch import SketchGenerator
    return SketchGenerator(seconds_per_image=settings.sketch_ms_per_image / 1000)


def _sdxl(settings: Settings) -> Generator:
    import torch

    from appliance.ops.models import ModelStore
    from pipelines import speed
    from pipelines.sdxl import SDXLGenerator
    device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
    card_gib = torch.cuda.get_device_properties(0).total_memory / 2**30 if device == "cuda" else None
    fast = speed.choose(settings.sdxl_fast, device, settings.sdxl_dtype, settings.sdxl_compile_backend,
                        card_gib=card_gib, mode=settings.sdxl_compile_mode)
    return SDXLGenerator(ModelStore(settings.models_dir, settings.manifest_path), device=device,
                         steps=settings.sdxl_steps or None, fuse_loras=settings.fuse_loras,
                         fast=fast, size=settings.image_size or None)


# Backends by name; each builder imports its dependencies (torch) only when chosen.
GENERATORS: dict[str, Callable[[Settings], Generator]] = {
    "sketch": _sketch,
    "sdxl": _sdxl,
}


def sdxl_unavailable(settings: Settings) -> str | None:
    """Why the sdxl generator cannot run here, or None when it can (CUDA and verified models)."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("diffusers") is None:
        return "torch/diffusers are not installed"
    import torch
    if not torch.cuda.is_available() and settings.device != "cpu":
        return "no CUDA GPU is available"
    from appliance.ops.models import ModelError, ModelStore
    try:
        # A damaged style LoRA is left out of the rounds by the generator (and logged); it
        # never takes SDXL away from the store.
        models = ModelStore(settings.models_dir, settings.manifest_path)
        optional = {spec.name for spec in models.manifest().values() if spec.optional}
        problems = [p for p in models.problems() if not p.model.startswith("style:") and p.model not in optional]
    except ModelError as exc:
        return str(exc)
    if problems:
        first = problems[0]
        return f"{len(problems)} model file(s) not ready, e.g. {first.model}/{first.path}: {first.status}"
    return None


def create(name: str, settings: Settings) -> tuple[Generator, str]:
    """The generator for a setting (`auto`, `sketch`, `sdxl`) and why it was chosen."""
    if name == "auto":
        why_not = sdxl_unavailable(settings)
        if why_not:
            reason = f"auto chose the sketch renderer: {why_not}"
            log.warning(reason)
            return GENERATORS["sketch"](settings), reason
        return GENERATORS["sdxl"](settings), "auto chose SDXL: CUDA available and every model verified"
    if name not in GENERATORS:
        raise GeneratorUnavailable(f"Unknown generator {name!r} (available: {', '.join(GENERATORS)}).")
    if name == "sdxl" and (why_not := sdxl_unavailable(settings)):
        raise GeneratorUnavailable(f"The sdxl generator cannot run: {why_not}.")
    return GENERATORS[name](settings), f"{name}: chosen in the settings"


def device_name() -> str:
    """The card a generator on this box draws with, in words (for the workers' list)."""
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        return "no GPU (CPU)"
    try:
        import torch
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU)"
    except Exception as exc:           # a broken driver: say so rather than fail the worker
        return f"unknown ({exc.__class__.__name__})"
