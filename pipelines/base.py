"""The generator interface every backend implements, the request and result it speaks,
and the one registry that names the backends.

A generator loads once, then turns a GenerationRequest into images; it reports progress
through `on_progress(fraction)` and stops between steps when `is_cancelled()` says so.
"""

from __future__ import annotations

import importlib
import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image

from appliance.specs import Spec

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
    parent_image: Image.Image | None = None
    width: int = 640
    height: int = 640


@dataclass
class GenerationResult:
    images: list[Image.Image]
    seeds: list[int]
    labels: list[str] = field(default_factory=list)


class Generator(ABC):
    """Loads under a lock, generates, unloads. Subclasses write only what differs."""

    name: str = "base"

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
    def generate(self, request: GenerationRequest, on_progress: Callable[[float], None],
                 is_cancelled: Callable[[], bool]) -> GenerationResult:
        """Render `request.count` images, one per seed."""


# Backends by name. The value is "module:Class" so that naming a backend does not import
# its dependencies (torch) until it is chosen.
GENERATORS: dict[str, str] = {
    "sketch": "pipelines.sketch:SketchGenerator",
}


def create(name: str) -> tuple[Generator, str]:
    """The generator for a setting (`auto`, `sketch`, `sdxl`) and why it was chosen."""
    if name == "auto":
        if "sdxl" not in GENERATORS:
            reason = "auto: the SDXL backend is not installed in this build, so concepts are sketch previews"
            log.info(reason)
            return _instantiate("sketch"), reason
        return _instantiate("sdxl"), "auto: SDXL available"
    if name not in GENERATORS:
        raise GeneratorUnavailable(f"The {name!r} generator is not available in this installation "
                                   f"(available: {', '.join(GENERATORS)}).")
    return _instantiate(name), f"{name}: chosen in the settings"


def _instantiate(name: str) -> Generator:
    module_name, class_name = GENERATORS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)()
