"""The generator interface every backend implements, the request and result it speaks,
and the one registry that names the backends.

A generator loads once, then turns a GenerationRequest into images; it reports progress
through `on_progress(fraction)` and stops between steps when `is_cancelled()` says so.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image

from appliance.config import Settings
from appliance.jewelry.specs import Spec

log = logging.getLogger(__name__)


class GenerationCancelled(Exception):
    """The job was cancelled between steps; nothing is kept."""


class GeneratorUnavailable(RuntimeError):
    """A backend cannot run on this machine; the message says why."""


@dataclass
class GenerationRequest:
    spec: Spec
    description: str
    count: int
    seeds: list[int]
    instruction: str | None = None
    # img2img from a concept ("more like this") or a customer's reference photo; with a
    # mask (white = repaint), an inpainting edit of that region.
    init_image: Image.Image | None = None
    mask: Image.Image | None = None
    strength: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class GenerationResult:
    images: list[Image.Image]
    seeds: list[int]
    labels: list[str] = field(default_factory=list)


class Generator(ABC):
    """Loads under a lock, generates, unloads. Subclasses write only what differs."""

    name: str = "base"
    default_size: int = 640

    def __init__(self):
        self._lock = threading.Lock()
        self.loaded = False

    def load(self) -> None:
        """Make the backend ready to generate (idempotent)."""
        with self._lock:
            if not self.loaded:
                self._load()
                self.loaded = True

    def unload(self) -> None:
        """Free what `load` took."""
        with self._lock:
            if self.loaded:
                self._unload()
                self.loaded = False

    def _load(self) -> None:
        pass

    def _unload(self) -> None:
        pass

    @abstractmethod
    def generate(self, request: GenerationRequest, on_progress: Callable[..., None],
                 is_cancelled: Callable[[], bool]) -> GenerationResult:
        """Render `request.count` images, one per seed. `on_progress(fraction, preview)`
        reports each step (preview: a cheap image, or None)."""


def _sketch(settings: Settings) -> Generator:
    from pipelines.sketch import SketchGenerator
    return SketchGenerator()


def _sdxl(settings: Settings) -> Generator:
    from appliance.ops.models import ModelStore
    from pipelines.sdxl import SDXLGenerator
    return SDXLGenerator(ModelStore(settings.models_dir, settings.manifest_path), device=settings.device or None,
                         steps=settings.sdxl_steps or None, fuse_loras=settings.fuse_loras)


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
        problems = ModelStore(settings.models_dir, settings.manifest_path).problems()
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
