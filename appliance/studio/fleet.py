"""GPU workers on other boxes, as the shop sees them: each has a name and its own token
(`diamra worker add NAME`), reports its box, card and model, takes the job the dispatcher
sent it, reports progress with a preview, and hands the finished images back. The shop's
SQLite stays the only record: a job belongs to one worker and one attempt at a time, and
what a worker sends for an attempt that is no longer current is refused, so a job drawn
twice (its first worker thought dead) is stored once.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from appliance.errors import Conflict, Invalid, NotFound
from appliance.jewelry import metal_colour
from appliance.jewelry.specs import Spec
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio import designs, jobs, uploads
from appliance.studio.designs import new_id, shown

log = logging.getLogger(__name__)

# Where the shop's staff app answers its workers (web.fleet); the remote worker calls it.
PATH = "/staff/internal/fleet"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MAX_IMAGE_BYTES = 40 * 1024 * 1024
MAX_PREVIEW_BYTES = 2 * 1024 * 1024
FACT_LENGTH = 200


@dataclass(frozen=True)
class SentJob:
    """What a remote worker needs to draw a job: the same request the shop's own worker builds."""
    id: str
    attempt: int
    design_id: str
    description: str
    spec_json: str
    count: int
    instruction: str | None
    strength: float | None
    init_kind: str | None        # "photo" | "concept" | None
    has_mask: bool

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise Invalid("name", "a worker's name is 1 to 40 lower-case letters, digits or hyphens, "
                              "starting with a letter or digit (for example gpu-2)")
    return name


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- tokens

def add_worker(store: Store, name: str, by: str) -> str:
    """A new worker's token, shown once (only its sha256 is kept)."""
    check_name(name)
    token = f"dmw_{secrets.token_urlsafe(32)}"
    with store.write(durable=True) as db:
        if db.execute(q.WORKER_TOKEN_NAMED, {"name": name}).fetchone():
            raise Conflict(f"A worker named {name} exists already; remove it first to give it a new token.")
        db.execute(q.INSERT_WORKER_TOKEN, {"name": name, "sha256": _digest(token), "by": by, "now": now()})
    log.info("GPU worker %s added by %s", name, by)
    return token


def remove_worker(store: Store, name: str) -> None:
    """Revoke a worker's token; its running job (if any) goes back to the queue."""
    with store.write(durable=True) as db:
        if not db.execute(q.DELETE_WORKER_TOKEN, {"name": name}).rowcount:
            raise NotFound(f"No worker is named {name}.")
        for row in list(db.execute(q.RUNNING_JOBS_OF_WORKER, {"id": name})):
            db.execute(q.REQUEUE_SILENT_JOB, {"id": row[0], "attempt": row[1]})
        db.execute(q.DELETE_REMOTE_WORKER, {"id": name})
    log.info("GPU worker %s removed", name)


def worker_names(store: Store) -> list[dict]:
    return store.query(q.WORKER_TOKEN_NAMES)


def authenticate(store: Store, token: str | None) -> str | None:
    """The worker a token belongs to, or None."""
    if not token or len(token) > 200:
        return None
    row = store.query_one(q.WORKER_TOKEN_BY_HASH, {"sha256": _digest(token)})
    return row and row["name"]


# ---------------------------------------------------------------- what workers report

def _fact(facts: dict, key: str) -> str:
    value = facts.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(key, "must be text")
    return value.strip()[:FACT_LENGTH]


def heartbeat(store: Store, name: str, facts: dict) -> None:
    """A worker is alive, with its box, card, model and generator."""
    generator = _fact(facts, "generator") or "unknown"
    with store.write() as db:
        db.execute(q.UPSERT_REMOTE_WORKER, {
            "id": name, "generator": generator, "reason": _fact(facts, "reason") or "remote worker",
            "box": _fact(facts, "box"), "gpu": _fact(facts, "gpu"), "model": _fact(facts, "model"), "now": now()})


def workers(store: Store) -> list[dict]:
    """Every worker the shop has heard of, with how long it has been silent and its job."""
    moment = datetime.now(UTC)
    rows = store.query(q.ALL_WORKERS)
    for row in rows:
        row["silent_seconds"] = (moment - datetime.fromisoformat(row["heartbeat_at"])).total_seconds()
    return rows


def live_capacity(store: Store, silent_seconds: float) -> tuple[int, int]:
    """(live remote workers, of them idle)."""
    since = (datetime.now(UTC) - timedelta(seconds=silent_seconds)).isoformat()
    rows = store.query(q.LIVE_REMOTE_WORKERS, {"since": since})
    return len(rows), sum(1 for row in rows if not row["running"])


# ---------------------------------------------------------------- one job, one attempt

def claim(store: Store, name: str, job_id: str, *, dispatching: bool = True, task: str | None = None) -> SentJob:
    """Give `name` the job it was sent, as a new attempt. A job already ended, cancelled or
    drawn by another live worker is refused (Conflict): the message was a duplicate. A shop
    that takes its jobs from its own database again (`dispatching` False) gives none out.
    `task` is the Celery message's id: the same message claiming again (its answer was lost
    on the way) gets the same attempt back."""
    if not dispatching:
        raise Conflict("This shop's own worker takes its jobs now (dispatcher = \"sqlite\"); none are given out.")
    with store.write() as db:
        row = db.execute(q.JOB_HOLDER, {"id": job_id}).fetchone()
        if row is None:
            raise NotFound("No such job.")
        status, worker_id, attempts, dispatch_id = row
        again = status == "running" and worker_id == name and task is not None and task == dispatch_id
        if status == "running" and worker_id == name and not again:
            # This worker restarted and was sent its job again: its earlier attempt is over.
            db.execute(q.REQUEUE_SILENT_JOB, {"id": job_id, "attempt": attempts})
        elif status != "queued" and not again:
            raise Conflict(f"The job is {status}" + (f" on {worker_id}" if status == "running" else "") + ".")
        if not again:
            db.execute(q.CLAIM_SENT_JOB, {"id": job_id, "worker_id": name, "now": now(), "task": task})
    job = jobs.get_job(store, job_id)
    design = designs.get_design(store, job.design_id)
    log.info("job %s taken by %s (attempt %d)", shown(job_id), name, job.attempts)
    return SentJob(id=job.id, attempt=job.attempts, design_id=job.design_id, description=design.description,
                   spec_json=job.spec_json, count=job.count, instruction=job.instruction,
                   strength=jobs.strength_fraction(job.strength),
                   init_kind="photo" if job.reference_id else "concept" if job.parent_image_id else None,
                   has_mask=bool(job.mask_id))


def _current(store: Store, name: str, job_id: str, attempt: int) -> jobs.Job:
    try:
        job = jobs.get_job(store, job_id)
    except NotFound:
        raise NotFound("No such job.") from None
    if job.worker_id != name or job.attempts != attempt or job.status != "running":
        raise Conflict(f"Attempt {attempt} of this job is over (the job is {job.status}, attempt {job.attempts}).")
    return job


def input_file(store: Store, images_dir: Path, uploads_dir: Path, name: str, job_id: str, attempt: int,
               kind: str) -> Path:
    """The picture a round starts from (`init`: a concept or the customer's photo) or its mask."""
    job = _current(store, name, job_id, attempt)
    if kind == "init" and job.reference_id:
        return Path(uploads_dir) / uploads.get_upload(store, job.reference_id).path
    if kind == "init" and job.parent_image_id:
        return Path(images_dir) / designs.get_image(store, job.parent_image_id).path
    if kind == "mask" and job.mask_id:
        return Path(uploads_dir) / uploads.get_upload(store, job.mask_id).path
    raise NotFound(f"This job has no {kind} picture.")


def progress(store: Store, images_dir: Path, name: str, job_id: str, attempt: int, fraction: float,
             preview: bytes | None = None) -> dict:
    """Record a step; answers whether the customer cancelled (the worker stops at once)."""
    if not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        raise Invalid("fraction", "must be a number from 0 to 1")
    job = _current(store, name, job_id, attempt)
    path = None
    if preview:
        if len(preview) > MAX_PREVIEW_BYTES:
            raise Invalid("preview", f"a preview is at most {MAX_PREVIEW_BYTES // 1024} KiB")
        picture = _picture(preview, "preview")
        folder = Path(images_dir) / "previews"
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{job_id}.jpg.part"
        picture.convert("RGB").resize((256, 256)).save(partial, format="JPEG", quality=70)
        os.replace(partial, folder / f"{job_id}.jpg")
        path = f"previews/{job_id}.jpg"
    params = {"id": job_id, "worker_id": name, "attempt": attempt, "now": now()}
    with store.write() as db:
        db.execute(q.REMOTE_JOB_PROGRESS, {**params, "progress": float(fraction) * 0.95})
        if path:
            db.execute(q.REMOTE_JOB_PREVIEW, {**params, "preview_path": path})
        db.execute(q.WORKER_HEARTBEAT, {"id": name, "now": params["now"]})
    return {"cancel": job.cancel_requested}


def finish(store: Store, images_dir: Path, name: str, job_id: str, attempt: int, *, status: str,
           generator: str, error: str | None = None, images: list[tuple[bytes, int, str]] = ()) -> str:
    """End an attempt: `done` with its images (PNG bytes, seed, label), `failed` with the
    error the customer reads, or `cancelled`. Idempotent: the same attempt finished again
    (its answer was lost) is "stored" without storing anything twice."""
    if status not in ("done", "failed", "cancelled"):
        raise Invalid("status", "must be done, failed or cancelled")
    job = jobs.get_job(store, job_id)
    if job.status != "running" and job.worker_id == name and job.attempts == attempt:
        if job.status == status or (status == "done" and job.status == "cancelled"):
            return "stored" if job.status == "done" else job.status
        raise Conflict(f"Attempt {attempt} of this job is over: the job {job.status}.")
    job = _current(store, name, job_id, attempt)
    if status == "done" and not 1 <= len(images) <= job.count:
        raise Invalid("images", f"a finished round has 1 to {job.count} images")
    if status == "done" and job.cancel_requested:
        status, images = "cancelled", []
    spec = Spec.model_validate_json(job.spec_json)
    pictures = [(_picture(data, f"image {index + 1}", MAX_IMAGE_BYTES), data, seed, label)
                for index, (data, seed, label) in enumerate(images)] if status == "done" else []
    folder = Path(images_dir) / job.design_id
    written: list[Path] = []
    try:
        rows = []
        for picture, data, seed, label in pictures:
            folder.mkdir(parents=True, exist_ok=True)
            image_id = new_id()
            partial = folder / f".{image_id}.png.part"
            partial.write_bytes(data)
            os.replace(partial, folder / f"{image_id}.png")
            written.append(folder / f"{image_id}.png")
            check = _metal_check(picture, spec)
            rows.append({
                "id": image_id, "design_id": job.design_id, "job_id": job.id, "parent_id": job.parent_image_id,
                "instruction": job.instruction, "path": f"{job.design_id}/{image_id}.png", "seed": int(seed),
                "generator": generator, "label": (label or "")[:FACT_LENGTH] or None,
                "width": picture.width, "height": picture.height, "spec_json": spec.model_dump_json(),
                "spec_revision": job.spec_revision, "metal_check": check and check.verdict,
                "metal_check_reason": check and check.reason, "now": now()})
        with store.write(durable=True) as db:
            ended = db.execute(q.FINISH_REMOTE_JOB, {
                "id": job_id, "worker_id": name, "attempt": attempt, "status": status,
                "error": (error or "")[:300] or None if status != "done" else None, "generator": generator,
                "now": now()}).rowcount
            if not ended:
                raise Conflict(f"Attempt {attempt} of this job is over.")
            # Numbered in the same transaction: two workers finishing rounds of one design
            # at once never share a round number.
            round_number = db.execute(q.LAST_ROUND_FOR_DESIGN, {"design_id": job.design_id}).fetchone()[0] + 1
            for row in rows:
                db.execute(q.INSERT_IMAGE, {**row, "round": round_number})
            db.execute(q.WORKER_JOB_DONE, {"id": name, "now": now()})
    except BaseException:
        for path in written:                 # nothing half-stored: no rows, no files
            path.unlink(missing_ok=True)
        raise
    (Path(images_dir) / "previews" / f"{job_id}.jpg").unlink(missing_ok=True)
    log.info("job %s %s by %s (attempt %d, %d images)", shown(job_id), status, name, attempt, len(rows))
    return status


def _picture(data: bytes, field: str, limit: int = MAX_PREVIEW_BYTES) -> Image.Image:
    if len(data) > limit:
        raise Invalid(field, f"is {len(data)} bytes; at most {limit} are accepted")
    try:
        picture = Image.open(io.BytesIO(data))
        picture.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise Invalid(field, f"is not a picture this shop can read ({exc})") from None
    return picture


def _metal_check(picture: Image.Image, spec: Spec):
    try:
        return metal_colour.check(picture.convert("RGB"), spec)
    except Exception:
        log.exception("metal colour check failed; storing the concept unchecked")
        return None


# ---------------------------------------------------------------- recovery

def sweep(store: Store, silent_seconds: float, max_attempts: int) -> tuple[list[str], list[str]]:
    """Jobs whose worker fell silent go back to the queue (to be sent again), or fail after
    `max_attempts` (they may be what keeps killing workers). Returns (requeued, failed)."""
    before = (datetime.now(UTC) - timedelta(seconds=silent_seconds)).isoformat()
    requeued, failed = [], []
    with store.write() as db:
        for job_id, attempts, cancel, worker_id in list(db.execute(q.SILENT_RUNNING_JOBS, {"before": before})):
            if cancel or attempts >= max_attempts:
                error = "Cancelled." if cancel else (
                    f"The generator stopped while drawing this {attempts} times; not retrying.")
                db.execute(q.FAIL_SILENT_JOB, {"id": job_id, "attempt": attempts, "error": error, "now": now()})
                failed.append(job_id)
            else:
                db.execute(q.REQUEUE_SILENT_JOB, {"id": job_id, "attempt": attempts})
                requeued.append(job_id)
            log.warning("job %s: worker %s fell silent; %s", shown(job_id), worker_id,
                        "failed" if job_id in failed else "requeued")
    return requeued, failed
