"""The worker's contract with a generator, as types: what the worker may call, what it
gets back, and which errors end the worker rather than the round. The backends live in
pipelines/ and implement it (pipelines.base.Generator); the worker imports only this.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Union, runtime_checkable

from PIL import Image


class DeviceLost(RuntimeError):
    """The generator's device is unusable (a CUDA error that poisons the process): the
    worker stops, systemd starts a fresh one, and the round is drawn again or failed.
    Every other exception fails only the round it happened in."""


@runtime_checkable
class LazyImage(Protocol):
    """A picture still on its way off the device; `image()` waits for it (and only for it)."""

    def image(self) -> Image.Image: ...


# A step's preview: a picture, one on its way, or none.
Preview = Union[Image.Image, LazyImage, None]
OnProgress = Callable[[float, Preview], None]
OnImage = Callable[[int, Image.Image], None]


class Result(Protocol):
    images: list[Image.Image]
    seeds: list[int]
    labels: list[str]


@runtime_checkable
class Generator(Protocol):
    """A backend the worker draws with."""

    name: str
    default_size: int

    def load(self) -> None:
        """Make ready to draw (idempotent); the worker reports READY after it returns."""

    def unload(self) -> None:
        """Free what `load` took."""

    def generate(self, request: Any, on_progress: OnProgress, is_cancelled: Callable[[], bool],
                 on_image: OnImage | None = None) -> Result:
        """Draw `request.count` images, one per seed. Reports each step through
        `on_progress(fraction, preview)` (which must return at once), stops between steps
        when `is_cancelled()` (raising), and may hand each finished image to
        `on_image(index, image)` as soon as it exists. Raises DeviceLost when the device is
        gone; any other exception fails the round."""


def resolve(preview: Preview) -> Image.Image | None:
    """The picture of a preview (waiting for one still on its way)."""
    if preview is None or isinstance(preview, Image.Image):
        return preview
    return preview.image()
