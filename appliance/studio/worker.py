"""The generation worker: claim a job, hand it to the generator, store the images.

It runs as a thread inside `diamra serve` or as its own process (`diamra worker`); either
way it meets the web apps only through job rows and image files. It never imports a
generator backend: the composition root (cli.py) hands it one, with the request type.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

from PIL import Image

from appliance.jewelry import metal_colour
from appliance.jewelry.specs import Spec
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio import designs, jobs, styles, training_queue, uploads
from appliance.studio import retention as retention_rules
from appliance.studio.generation import DeviceLost, Generator
from appliance.studio.round_output import ImageEncoder, ProgressReporter

log = logging.getLogger(__name__)


def systemd_notify(message: str) -> None:
    """sd_notify(3) without a library: a datagram to $NOTIFY_SOCKET when systemd set one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError as exc:
            log.warning("could not notify systemd: %s", exc)


class WorkerFatal(RuntimeError):
    """The generator says its device is unusable: this process must exit and restart."""


class Worker:
    def __init__(self, store: Store, generator: Generator, images_dir: Path, *, new_request, generator_reason: str = "",
                 max_attempts: int = 2, image_size: int = 0, poll_seconds: float = 0.25,
                 uploads_dir: Path | None = None, retention: retention_rules.Policy | None = None,
                 prune_every_seconds: float = 3600, trainer=None, training_dir: Path | None = None,
                 training_hours: list = (), training_quiet_seconds: float = 30, clock=None):
        self.store = store
        self.generator = generator
        self.images_dir = Path(images_dir)
        self.uploads_dir = Path(uploads_dir) if uploads_dir else self.images_dir.parent / "uploads"
        self.fatal: BaseException | None = None
        self._last_beat = 0.0
        self.new_request = new_request
        self.generator_reason = generator_reason
        self.max_attempts = max_attempts
        self.image_size = image_size
        self.poll_seconds = poll_seconds
        self.id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The data folder's housekeeping runs here, between rounds, when the queue is empty.
        self.retention = retention
        self.prune_every_seconds = prune_every_seconds
        self._last_prune = float("-inf")
        # The store's style training: the lowest priority this worker has. It runs only when
        # no customer round has been drawn for `training_quiet_seconds` (a busy hour is not
        # chopped into slivers of training), within `training_hours`, and it gives the GPU
        # back as soon as a round is queued (pipelines.style_training).
        self.trainer = trainer
        self.training_dir = Path(training_dir) if training_dir else self.images_dir.parent / "training"
        self.training_hours = list(training_hours)     # (start, end) local times: config.parse_hours
        self.training_quiet_seconds = training_quiet_seconds
        self.clock = clock or (lambda: datetime.now().astimezone())
        self._last_round = float("-inf")

    def start_up(self) -> None:
        """Clean up after a crash, announce this worker, then load the generator."""
        jobs.recover(self.store, self.max_attempts)
        training_queue.recover(self.store)
        with self.store.write() as db:
            db.execute(q.UPSERT_WORKER, {"id": self.id, "generator": self.generator.name,
                                         "reason": self.generator_reason, "now": now()})
        # Loading SDXL compiles and warms up its fast path: minutes on the first start.
        systemd_notify("EXTEND_TIMEOUT_USEC=1800000000")
        self.generator.load()
        log.info("worker %s ready with the %s generator (%s)", self.id, self.generator.name, self.generator_reason)
        systemd_notify("READY=1")

    def run_once(self) -> bool:
        """Run the next queued job, if any; returns whether there was one."""
        job = jobs.claim_next(self.store, self.id)
        if job is None:
            self.heartbeat()
            if self.train_a_while():
                return True
            self.housekeeping()
            return False
        try:
            self._run(job)
        finally:
            # The preview only served the wait; the round has ended (or must be redrawn).
            retention_rules.drop_preview(self.store, self.images_dir, job.id)
            self._last_round = time.monotonic()
        return True

    def may_train(self) -> bool:
        """Whether a style may train now: a trainer, a quiet spell, within the hours."""
        return (self.trainer is not None and time.monotonic() - self._last_round >= self.training_quiet_seconds
                and training_queue.within_hours(self.training_hours, self.clock()))

    def train_a_while(self) -> bool:
        """Train the next waiting style until it is done or a customer needs the GPU;
        returns whether a style was trained on."""
        if not self.may_train():
            return False
        job = training_queue.claim_next(self.store, self.id, self.training_dir)
        if job is None:
            return False
        style = job.style
        log.info("training style %s from step %d of %d", style.name, style.step, style.steps)
        hooks = TrainingHooks(self, job)
        try:
            result = self.trainer(job, hooks)
        except Exception as exc:
            hooks.flush()
            if isinstance(exc, DeviceLost):
                log.critical("style %s: the device failed while training: %s", style.name, exc)
                raise WorkerFatal(str(exc)) from exc
            log.exception("style %s: training failed", style.name)
            training_queue.finish(self.store, style.id, "failed", error=f"Training stopped: {exc}")
            return True
        hooks.flush()
        if result.status == "trained":
            training_queue.finish(self.store, style.id, "trained", lora_sha256=result.lora_sha256)
        elif training_queue.cancel_requested(self.store, style.id):
            training_queue.finish(self.store, style.id, "cancelled")
            log.info("style %s stopped at step %d", style.name, result.step)
        else:
            training_queue.pause(self.store, style.id)
            log.info("style %s yields the GPU at step %d", style.name, result.step)
        return True

    def housekeeping(self) -> None:
        """Prune under the store's retention settings, at most every `prune_every_seconds`."""
        if self.retention is None or time.monotonic() - self._last_prune < self.prune_every_seconds:
            return
        self._last_prune = time.monotonic()
        try:
            retention_rules.prune(self.store, self.images_dir, self.uploads_dir, self.retention)
        except Exception:  # housekeeping must never stop the shop's worker
            log.exception("retention sweep failed; trying again in an hour")

    def heartbeat(self, every_seconds: float = 10.0) -> None:
        """Tell the appliance this worker is alive (at most every few seconds when idle);
        under systemd, also pet the watchdog."""
        moment = time.monotonic()
        if moment - self._last_beat < every_seconds:
            return
        self._last_beat = moment
        with self.store.write() as db:
            db.execute(q.WORKER_HEARTBEAT, {"id": self.id, "now": now()})
        systemd_notify("WATCHDOG=1")

    def run_forever(self) -> None:
        """Drain the queue until stopped, polling when it is empty. Stops for good when the
        generator reports its device unusable (`self.fatal` says why)."""
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except WorkerFatal as exc:
                self.fatal = exc.__cause__ or exc
                log.critical("worker %s stopping: %s", self.id, self.fatal)
                return
            except Exception:  # a bug in one job must not stop the shop's worker
                log.exception("worker loop error")
                busy = False
            if not busy:
                self._stop.wait(self.poll_seconds)

    def start_thread(self) -> threading.Thread:
        """Start up and run in a daemon thread (the embedded worker)."""
        self.start_up()
        self._thread = threading.Thread(target=self.run_forever, name="diamra-worker", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10) -> None:
        """Ask the loop to stop after the current job and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, job: jobs.Job) -> None:
        log.info("job %s started (design %s, attempt %d)", designs.shown(job.id), designs.shown(job.design_id),
                 job.attempts)
        design = designs.get_design(self.store, job.design_id)
        spec = Spec.model_validate_json(job.spec_json)
        init_image = mask = None
        if job.parent_image_id:
            init_image = Image.open(self.images_dir / designs.get_image(self.store, job.parent_image_id).path)
        if job.reference_id:
            init_image = Image.open(self.uploads_dir / uploads.get_upload(self.store, job.reference_id).path)
        if job.mask_id:
            mask = Image.open(self.uploads_dir / uploads.get_upload(self.store, job.mask_id).path)
        size = self.image_size or self.generator.default_size
        seeds = [secrets.randbelow(2**31) for _ in range(job.count)]
        request = self.new_request(spec=spec, description=design.description, count=job.count, seeds=seeds,
                                   instruction=job.instruction, init_image=init_image and init_image.convert("RGB"),
                                   mask=mask, strength=jobs.strength_fraction(job.strength), width=size, height=size,
                                   init_kind="photo" if job.reference_id else "concept" if job.parent_image_id else None)
        reporter = ProgressReporter(self.store, self.images_dir, job.id,
                                    heartbeat=lambda: self.heartbeat(every_seconds=5.0))
        encoder = ImageEncoder(self.images_dir / job.design_id)
        try:
            result = self.generator.generate(
                request, on_progress=reporter.update, is_cancelled=lambda: jobs.cancel_requested(self.store, job.id),
                on_image=encoder.submit)
        except Exception as exc:
            reporter.close()
            encoder.discard()
            if isinstance(exc, DeviceLost):
                # Leave the job running: the restarted worker requeues it, or fails it if it
                # has already taken the worker down before.
                log.critical("job %s: the generator's device failed: %s", job.id, exc)
                raise WorkerFatal(str(exc)) from exc
            if jobs.cancel_requested(self.store, job.id):
                jobs.finish(self.store, job.id, "cancelled", generator=self.generator.name)
                return
            log.exception("job %s failed in the %s generator", designs.shown(job.id), self.generator.name)
            jobs.finish(self.store, job.id, "failed", generator=self.generator.name,
                        error=f"The image generator failed: {exc}. Please try again.")
            return
        reporter.close()
        if jobs.cancel_requested(self.store, job.id):
            encoder.discard()
            jobs.finish(self.store, job.id, "cancelled", generator=self.generator.name)
            return
        self._store_images(job, spec, result, encoder)

    def _store_images(self, job: jobs.Job, spec: Spec, result, encoder: ImageEncoder) -> None:
        round_number = self.store.query_one(q.LAST_ROUND_FOR_DESIGN, {"design_id": job.design_id})["round"] + 1
        rows, written = [], []
        try:
            # Images the generator handed over as it decoded them are encoded already, in
            # parallel; the rest are encoded now, in parallel too, with each metal check.
            for index, image in enumerate(result.images):
                encoder.submit(index, image)
            checks = {index: encoder.pool.submit(self._metal_check, image, spec)
                      for index, image in enumerate(result.images)}
            files = encoder.files(len(result.images))
            written.extend(self.images_dir / job.design_id / name for name in files)
            for index, (image, seed) in enumerate(zip(result.images, result.seeds)):
                image_id = files[index].removesuffix(".png")
                relative = f"{job.design_id}/{files[index]}"
                colour = checks[index].result()
                rows.append({
                    "id": image_id, "design_id": job.design_id, "job_id": job.id,
                    "parent_id": job.parent_image_id, "instruction": job.instruction, "path": relative,
                    "seed": seed, "generator": self.generator.name,
                    "label": result.labels[index] if index < len(result.labels) else None,
                    "round": round_number, "width": image.width, "height": image.height,
                    "spec_json": spec.model_dump_json(), "spec_revision": job.spec_revision,
                    "metal_check": colour and colour.verdict, "metal_check_reason": colour and colour.reason,
                })
            jobs.finish(self.store, job.id, "done", generator=self.generator.name, images=rows)
            encoder.close()
        except Exception as exc:
            encoder.discard()
            for path in written:  # nothing half-stored: no rows means no files either
                path.unlink(missing_ok=True)
            log.exception("job %s: storing images failed", designs.shown(job.id))
            jobs.finish(self.store, job.id, "failed", generator=self.generator.name,
                        error=f"Could not store the images: {exc}.")

    def _metal_check(self, image, spec: Spec) -> metal_colour.MetalCheck | None:
        """The metal colour check of one concept; None when it fails, which never costs
        the customer their round."""
        try:
            return metal_colour.check(image, spec)
        except Exception:
            log.exception("metal colour check failed; storing the concept unchecked")
            return None


class TrainingHooks:
    """What a training shift reports to the shop and asks of it, between steps."""

    FLUSH_SECONDS = 2.0

    def __init__(self, worker: Worker, job: training_queue.TrainingJob):
        self.worker, self.job, self.store = worker, job, worker.store
        self._points: list[tuple[int, float]] = []
        self._flushed = time.monotonic()
        self._sampled = set(styles.samples(self.store, job.style.id))

    def should_yield(self) -> bool:
        """A customer's round is queued, the style was stopped, the training hours ended, or
        the worker is stopping (the style then waits at its checkpoint). Asked between
        every step and phase, so it also tells systemd's watchdog the worker is alive."""
        self.worker.heartbeat(every_seconds=5.0)
        return (self.worker._stop.is_set() or training_queue.customer_waiting(self.store)
                or training_queue.cancel_requested(self.store, self.job.style.id)
                or not training_queue.within_hours(self.worker.training_hours, self.worker.clock()))

    def start_over(self) -> None:
        """The checkpoint was made from other photos or settings: step 0 again."""
        self._points = []
        with self.store.write() as db:
            styles.start_over(db, self.job.style.id)
        self._sampled = set()

    def progress(self, step: int, loss: float) -> None:
        self._points.append((step, loss))
        if time.monotonic() - self._flushed >= self.FLUSH_SECONDS:
            self.flush()
        self.worker.heartbeat(every_seconds=5.0)

    def flush(self) -> None:
        points, self._points = self._points, []
        self._flushed = time.monotonic()
        training_queue.report(self.store, self.job.style.id, points)

    def has_samples(self, step: int) -> bool:
        return step in self._sampled

    def samples(self, step: int, images: list) -> None:
        """Keep one checkpoint's validation images (step 0: without the LoRA)."""
        self.flush()
        folder = self.job.samples_dir
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, image in enumerate(images):
            name = f"step-{step:06d}-{index}.png"
            partial = folder / f".{name}.part"
            image.convert("RGB").save(partial, format="PNG")
            os.replace(partial, folder / name)
            paths.append(str((folder / name).relative_to(self.worker.training_dir)))
        training_queue.record_samples(self.store, self.job.style.id, step, paths)
        self._sampled.add(step)
