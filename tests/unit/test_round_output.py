"""A round's progress and images are written off the denoising loop: a generator's step
never waits for a JPEG, a progress row, SQLite's write lock or a PNG."""

from __future__ import annotations

import sqlite3
import threading
import time

from PIL import Image

from appliance.storage.migrations import migrate
from appliance.storage.store import Store
from appliance.studio import designs, jobs, round_output
from appliance.studio.round_output import ImageEncoder, ProgressReporter
from appliance.studio.worker import Worker
from pipelines.base import GenerationRequest, GenerationResult


class CountingGenerator:
    """Forty steps, each with a preview, timing how long every report made the loop wait."""
    name, default_size, loaded = "counting", 64, True

    def __init__(self, during_step=None):
        self.waits: list[float] = []
        self.during_step = during_step or (lambda step: None)

    def load(self):
        """Nothing to load: it draws flat colours."""

    def unload(self):
        """Nothing to free."""

    def generate(self, request, on_progress, is_cancelled, on_image=None):
        preview = Image.new("RGB", (32, 32), (120, 90, 60))
        for step in range(40):
            self.during_step(step)
            time.sleep(0.01)                        # the GPU's share of a step
            started = time.perf_counter()
            on_progress((step + 1) / 40, preview)
            self.waits.append(time.perf_counter() - started)
        images = [Image.new("RGB", (64, 64), (200 - 30 * i, 150, 90)) for i in range(request.count)]
        for index, image in enumerate(images):
            if on_image:
                on_image(index, image)
        return GenerationResult(images=images, seeds=list(request.seeds[: request.count]),
                                labels=["counted"] * request.count)


def shop(tmp_path):
    migrate(tmp_path / "d.db", tmp_path / "backups")
    store = Store(tmp_path / "d.db")
    return store, tmp_path / "images"


def test_a_held_write_lock_never_holds_the_denoising_loop(tmp_path, monkeypatch):
    store, images = shop(tmp_path)
    writes = []
    real = jobs.report_progress
    monkeypatch.setattr(round_output.jobs, "report_progress",
                        lambda *a, **k: (writes.append(time.monotonic()), real(*a, **k)))
    holder = sqlite3.connect(tmp_path / "d.db", timeout=30, check_same_thread=False, isolation_level=None)
    released = threading.Event()

    def hold_the_lock(step):
        if step == 5:          # another writer (a busy shop) holds SQLite's write lock for 0.3 s
            holder.execute("BEGIN IMMEDIATE")
            threading.Timer(0.3, lambda: (holder.execute("ROLLBACK"), released.set())).start()

    generator = CountingGenerator(during_step=hold_the_lock)
    worker = Worker(store, generator, images, new_request=GenerationRequest, poll_seconds=0.01)
    design = designs.create_design(store, "yellow gold ring")
    job = jobs.enqueue(store, design.id, count=2)
    started = time.monotonic()
    assert worker.run_once()
    elapsed = time.monotonic() - started
    assert released.is_set()
    # No step waited on the lock, the JPEG or the row: each report returned at once.
    assert max(generator.waits) < 0.01, max(generator.waits)
    # The progress rows were written a few times a second, not forty times.
    assert 1 <= len(writes) <= elapsed / 0.25 + 2
    assert all(b - a >= 0.2 for a, b in zip(writes, writes[1:]))
    # Each round's writer thread gives its database connection back when the round ends.
    connections = len(store._all)
    for _ in range(3):
        jobs.enqueue(store, design.id, count=1)
        assert worker.run_once()
    assert len(store._all) == connections
    done = jobs.get_job(store, job.id)
    assert done.status == "done" and len(jobs.images_of(store, job.id)) == 2
    assert not (images / "previews" / f"{job.id}.jpg").exists()     # the round's end dropped the preview
    holder.close()
    store.close()


def test_progress_keeps_the_newest_preview_and_resolves_it_off_the_loop(tmp_path):
    store, images = shop(tmp_path)
    design = designs.create_design(store, "yellow gold ring")
    job = jobs.enqueue(store, design.id, count=1)
    jobs.claim_next(store, "w")
    resolved_in = []

    class OnItsWay:
        def image(self):
            resolved_in.append(threading.current_thread().name)
            return Image.new("RGB", (16, 16), (10, 200, 10))

    reporter = ProgressReporter(store, images, job.id, every=0.05)
    reporter.update(0.5, OnItsWay())
    reporter.update(0.6, None)                 # a step without a preview keeps the one on its way
    deadline = time.monotonic() + 5
    while not (images / "previews" / f"{job.id}.jpg").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    reporter.close()
    assert resolved_in == ["diamra-progress"]
    row = jobs.get_job(store, job.id)
    assert abs(row.progress - 0.6 * 0.95) < 1e-9 and row.preview_path == f"previews/{job.id}.jpg"
    with Image.open(images / row.preview_path) as preview:
        assert preview.size == (256, 256) and preview.getpixel((128, 128))[1] > 150
    store.close()


def test_images_are_encoded_in_parallel_and_a_failed_round_leaves_no_file(tmp_path):
    encoder = ImageEncoder(tmp_path / "design")
    pictures = [Image.new("RGB", (256, 256), (i * 40, 100, 200)) for i in range(4)]
    encoder.submit(0, pictures[0])
    encoder.submit(0, pictures[3])            # a second hand-over of the same image is ignored
    for index in (1, 2, 3):
        encoder.submit(index, pictures[index])
    names = encoder.files(4)
    for name, picture in zip(names, pictures):
        with Image.open(tmp_path / "design" / name) as stored:
            assert stored.tobytes() == picture.tobytes()
    encoder.discard()
    assert not list((tmp_path / "design").iterdir())
