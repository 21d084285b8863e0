"""The training queue: a style waiting to train is the generation worker's lowest-priority
job. The worker claims it (appliance.studio.worker.train_a_while), reports its steps,
losses and sample images here while it trains, and pauses it (a customer's round is
waiting, the training hours ended), stops it or finishes it; a style a dead worker left
training waits again and resumes from its checkpoint. What the trainer needs of a style
travels as a TrainingJob, so pipelines/ never reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path

from appliance.jewelry.specs import Spec
from appliance.reader.descriptions import parse_description
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio.styles import Style, get, photos, work_dir

# The fixed prompts every checkpoint is drawn with, with and without the LoRA, so the
# jeweler compares like with like; the seeds fix the noise.
VALIDATION_LINES = ("yellow gold solitaire ring with a round diamond",
                    "white gold oval halo ring with small diamonds on the band",
                    "rose gold pendant with a pear sapphire")
VALIDATION_SEEDS = (1001, 1002, 1003)

@dataclass(frozen=True)
class TrainingJob:
    """What the trainer needs for one style: the confirmed photos, where to work, what to sample."""
    style: Style
    photos: list[tuple[Path, str, str]]  # (photo file, caption, its sha256): the confirmed photos
    work_dir: Path                       # checkpoints and caches (never backed up)
    samples_dir: Path
    validation: list[Spec]
    seeds: list[int]



def validation_specs() -> list[Spec]:
    """The validation prompts' specs, read by the same reader the studio uses."""
    return [parse_description(line).spec for line in VALIDATION_LINES]


def claim_next(store: Store, worker_id: str, training_dir: Path) -> TrainingJob | None:
    """The oldest style waiting to train, now marked training by this worker."""
    with store.write() as db:
        row = next(db.query(q.NEXT_QUEUED_STYLE), None)
        if row is None:
            return None
        db.execute(q.CLAIM_STYLE, {"id": row["id"], "worker_id": worker_id, "now": now()})
    style = get(store, row["id"])
    folder = Path(training_dir)
    return TrainingJob(style, [(folder / p.path, p.caption, p.sha256) for p in photos(store, style.id) if p.confirmed],
                       work_dir(folder, style.id), folder / style.id / "samples", validation_specs(),
                       list(VALIDATION_SEEDS))


def recover(store: Store) -> int:
    """A style left training by a worker that died goes back to waiting (its checkpoint resumes it)."""
    with store.write() as db:
        return db.execute(q.REQUEUE_TRAINING_STYLES, {"now": now()}).rowcount


def report(store: Store, style_id: str, points: list[tuple[int, float]]) -> None:
    """Steps done and their losses (written in batches, a few times a minute at most)."""
    if not points:
        return
    with store.write() as db:
        db.conn.executemany(q.INSERT_STYLE_LOSS, [{"style_id": style_id, "step": s, "loss": v} for s, v in points])
        step, loss = points[-1]
        db.execute(q.STYLE_PROGRESS, {"id": style_id, "step": step, "loss": loss, "now": now()})


def record_samples(store: Store, style_id: str, step: int, relative_paths: list[str]) -> None:
    with store.write() as db:
        for index, path in enumerate(relative_paths):
            db.execute(q.INSERT_STYLE_SAMPLE, {"style_id": style_id, "step": step, "prompt_index": index,
                                               "path": path, "now": now()})


def cancel_requested(store: Store, style_id: str) -> bool:
    row = store.query_one(q.STYLE_CANCEL_REQUESTED, {"id": style_id})
    return bool(row and row["cancel_requested"])


def pause(store: Store, style_id: str) -> None:
    """The worker gave the GPU back: the style waits again, its checkpoint holding its place."""
    with store.write() as db:
        db.execute(q.PAUSE_STYLE, {"id": style_id, "now": now()})


def finish(store: Store, style_id: str, status: str, *, error: str | None = None,
           lora_sha256: str | None = None) -> None:
    if status not in ("trained", "failed", "cancelled"):
        raise ValueError(status)
    with store.write() as db:
        db.execute(q.FINISH_STYLE, {"id": style_id, "status": status, "error": error, "sha256": lora_sha256,
                                    "now": now()})


def customer_waiting(store: Store) -> bool:
    """Whether a customer's round is queued: training gives the GPU back at once."""
    return store.query_one(q.ANY_QUEUED_JOB) is not None


def within_hours(windows: list[tuple[clock_time, clock_time]], moment: datetime) -> bool:
    """Whether training may run at `moment` (local time); no windows: always."""
    if not windows:
        return True
    at = moment.time()
    for start, end in windows:
        if start < end and start <= at < end:
            return True
        if start > end and (at >= start or at < end):
            return True
    return False
