"""The generator interface every backend implements and the request and result it
speaks. No backend is imported here: the registry that names them is pipelines.registry.

A generator loads once, then turns a GenerationRequest into images; it reports progress
through `on_progress(fraction)` and stops between steps when `is_cancelled()` says so.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image

from appliance.jewelry.specs import Spec


class GenerationCancelled(Exception):
    """The job was cancelled between steps; nothing is kept."""


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
    # What init_image is: "concept" (one of this design's images) or "photo" (the
    # customer's reference photo); a generator may treat them alike (img2img does).
    init_kind: str | None = None
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
                 is_cancelled: Callable[[], bool], on_image: Callable | None = None) -> GenerationResult:
        """Render `request.count` images, one per seed (appliance.studio.generation.Generator
        is the contract). `on_progress(fraction, preview)` reports each step (preview: a
        cheap image, one on its way off the device, or None); `on_image(index, image)`, when
        given, may receive each image as soon as it exists."""
