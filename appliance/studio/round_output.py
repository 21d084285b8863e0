"""What a round writes while the GPU draws it, kept off the denoising loop's back.

`ProgressReporter` takes each step's progress and preview at once (no I/O, no waiting
for the GPU) and writes the latest of them from its own thread, a few times a second:
the preview JPEG and the job's progress row, which may wait on SQLite's write lock
without the loop noticing. `ImageEncoder` writes each finished image's PNG on a small
thread pool as soon as the generator hands it over, in parallel with the decoding of
the next and with each other.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from PIL import Image

from appliance.storage.store import Store
from appliance.studio import jobs
from appliance.studio.designs import new_id
from appliance.studio.generation import Preview, resolve

log = logging.getLogger(__name__)

# zlib level 3: about a third of the default's time for a few per cent more bytes.
PNG_COMPRESS_LEVEL = 3


class LatestStep:
    """A round's latest step (progress and preview), taken at once from the drawing loop
    and delivered by its own thread at most every `every` seconds; older steps are
    dropped. With `keep_alive`, a round silent that long delivers its last step again
    (without a preview). Subclasses deliver (`_deliver`)."""

    def __init__(self, every: float = 0.25, keep_alive: float | None = None, name: str = "diamra-progress"):
        self.every, self.keep_alive = every, keep_alive
        self._latest: tuple[float, Preview] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def update(self, fraction: float, preview: Preview = None) -> None:
        """Called by the generator between steps: only remembers (a step without a preview
        keeps the newest preview not yet delivered)."""
        with self._lock:
            if preview is None and self._latest is not None:
                preview = self._latest[1]
            self._latest = (fraction, preview)
        self._wake.set()

    def close(self) -> None:
        """The round is over: what was not delivered yet is not worth delivering."""
        self._closed.set()
        self._wake.set()
        self._thread.join(10)

    def _run(self) -> None:
        self._loop()

    def _loop(self) -> None:
        last, delivered = 0.0, 0.0
        while not self._closed.is_set():
            woken = self._wake.wait(self.keep_alive)
            pause = last + self.every - time.monotonic()
            if pause > 0 and self._closed.wait(pause):
                return
            with self._lock:
                item, self._latest = self._latest, None
                self._wake.clear()
            if item is None and not woken and not self._closed.is_set():
                item = (delivered, None)             # nothing new for a while: still alive
            if item is None or self._closed.is_set():
                continue
            last, delivered = time.monotonic(), item[0]
            self._deliver(*item)

    def _deliver(self, fraction: float, preview: Preview) -> None:
        raise NotImplementedError


class ProgressReporter(LatestStep):
    """The latest step of one job, written to the store at most every `every` seconds."""

    def __init__(self, store: Store, images_dir: Path, job_id: str, heartbeat: Callable[[], None] = lambda: None,
                 every: float = 0.25):
        self.store, self.images_dir, self.job_id = store, Path(images_dir), job_id
        self.heartbeat = heartbeat
        self.writes = 0
        super().__init__(every)

    def close(self) -> None:
        super().close()
        if self._thread.is_alive():
            log.warning("the progress writer of job %s is still waiting on the database", self.job_id[:6])

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.store.release_thread_connection()

    def _deliver(self, fraction: float, preview: Preview) -> None:
        try:
            self._write(fraction, preview)
        except Exception:  # a lost progress line never stops the round
            log.exception("could not write the progress of job %s", self.job_id[:6])

    def _write(self, fraction: float, preview: Preview) -> None:
        path = None
        picture = resolve(preview)
        if picture is not None:
            folder = self.images_dir / "previews"
            folder.mkdir(parents=True, exist_ok=True)
            path = f"previews/{self.job_id}.jpg"
            partial = folder / f".{self.job_id}.jpg.part"
            picture.convert("RGB").resize((256, 256)).save(partial, format="JPEG", quality=70)
            if self._closed.is_set():            # the round ended meanwhile: its preview is gone for good
                partial.unlink(missing_ok=True)
                return
            os.replace(partial, self.images_dir / path)
        jobs.report_progress(self.store, self.job_id, fraction * 0.95, path)
        self.writes += 1
        self.heartbeat()


class ImageEncoder:
    """PNG files of one round's images, written in parallel as the images arrive."""

    def __init__(self, folder: Path, workers: int = 4):
        self.folder = Path(folder)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="diamra-png")
        self._futures: dict[int, Future] = {}

    def submit(self, index: int, image: Image.Image) -> None:
        """Start writing image `index` (once; a second hand-over of it is ignored)."""
        if index not in self._futures:
            self._futures[index] = self.pool.submit(self._encode, image)

    def files(self, count: int) -> list[str]:
        """The file names of images 0..count-1, waiting for their writes."""
        return [self._futures[index].result() for index in range(count)]

    def discard(self) -> None:
        """Remove whatever was written (the round failed or was cancelled)."""
        for future in self._futures.values():
            if future.exception() is None:          # a write that failed left nothing behind
                (self.folder / future.result()).unlink(missing_ok=True)
        self._futures.clear()
        self.close()

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def _encode(self, image: Image.Image) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{new_id()}.png"
        partial = self.folder / f".{name}.part"
        try:
            image.save(partial, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
            os.replace(partial, self.folder / name)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return name
