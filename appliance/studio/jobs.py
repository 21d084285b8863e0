"""The generation queue: persistent job rows that the web apps enqueue and cancel and a
worker claims, reports progress on and finishes. Web and worker meet only here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from appliance.errors import Conflict, Invalid, NotFound
from appliance.jewelry.specs import Spec
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio import uploads
from appliance.studio.designs import get_design, get_image, new_id, shown

log = logging.getLogger(__name__)

MAX_IMAGES_PER_ROUND = 4
MAX_INSTRUCTION = 500


@dataclass
class Job:
    id: str
    design_id: str
    instruction: str | None
    parent_image_id: str | None
    count: int
    spec_json: str
    spec_revision: int
    status: str
    progress: float
    attempts: int
    cancel_requested: bool
    error: str | None
    generator: str | None
    created_at: str
    reference_id: str | None = None
    mask_id: str | None = None
    preview_path: str | None = None
    strength: str | None = None       # a "more like this" round: little | more | very
    worker_id: str | None = None      # the worker drawing it (a remote worker's name)
    dispatched_at: str | None = None  # sent to the GPU workers through Celery (dispatcher = "celery")

    @property
    def open(self) -> bool:
        return self.status in ("queued", "running")


def _job(row: dict) -> Job:
    fields = {k: row[k] for k in Job.__dataclass_fields__}
    fields["cancel_requested"] = bool(fields["cancel_requested"])
    return Job(**fields)


# "More like this": how far a round may move from the concept or photo it starts from, in
# the customer's words, and the share of the picture a generator redraws (img2img strength).
STRENGTHS = {"little": ("A little different", 0.3), "more": ("More different", 0.55), "very": ("Very different", 0.8)}


def strength_fraction(strength: str | None) -> float | None:
    """The img2img strength of a round's named strength (None: the generator's default)."""
    return STRENGTHS[strength][1] if strength else None


def enqueue(store: Store, design_id: str, *, instruction: str | None = None,
            parent_image_id: str | None = None, reference_id: str | None = None, mask_id: str | None = None,
            count: int = 4, max_waiting: int = 2, spec: Spec | None = None, strength: str | None = None) -> Job:
    """Queue a round of `count` concepts for the design's current spec: from the words
    alone, from a concept ("more like this"), from a reference photo, or (with a mask) a
    region of a concept redrawn. With `spec` (a round whose words changed the piece), the
    design takes that spec as a new revision in the same transaction, so the round, the
    panel and the price all show it. The chosen concept then follows the newest round
    until the customer picks another.

    A design may have at most `max_waiting` rounds waiting or running, so one customer
    cannot fill the queue in front of the others (Conflict when full).
    """
    design = get_design(store, design_id)
    instruction = (instruction or "").strip() or None
    # An empty id is no id (a form or client that sends "" for "none").
    parent_image_id, reference_id, mask_id = parent_image_id or None, reference_id or None, mask_id or None
    if instruction and len(instruction) > MAX_INSTRUCTION:
        raise Invalid("instruction", f"Please keep the instruction under {MAX_INSTRUCTION} characters.")
    if not 1 <= count <= MAX_IMAGES_PER_ROUND:
        raise Invalid("count", f"A round has 1 to {MAX_IMAGES_PER_ROUND} images.")
    if parent_image_id:
        try:
            parent = get_image(store, parent_image_id)
        except NotFound:
            raise Invalid("parent_image_id", "No image with that id.") from None
        if parent.design_id != design_id:
            raise Invalid("parent_image_id", "That image belongs to another design.")
    for field, upload_id, kind in (("reference_id", reference_id, "reference"), ("mask_id", mask_id, "mask")):
        if upload_id:
            try:
                upload = uploads.get_upload(store, upload_id)
            except NotFound:
                raise Invalid(field, f"No {kind} with that id.") from None
            if upload.design_id != design_id or upload.kind != kind:
                raise Invalid(field, f"That is not a {kind} of this design.")
    if mask_id and not parent_image_id:
        raise Invalid("parent_image_id", "A region edit needs the concept the mask was painted on.")
    if mask_id:
        mask = uploads.get_upload(store, mask_id)
        if abs(mask.width / mask.height - parent.width / parent.height) > 0.02:
            raise Invalid("mask_id", f"The mask ({mask.width} x {mask.height}) does not match the concept it was "
                          f"painted on ({parent.width} x {parent.height}); paint on the concept shown.")
    if reference_id and parent_image_id:
        raise Invalid("reference_id", "Start from a concept or from a reference photo, not both.")
    strength = strength or None
    if strength is not None:
        if strength not in STRENGTHS:
            raise Invalid("strength", "Choose how different: little, more or very.")
        if not (parent_image_id or reference_id) or mask_id:
            raise Invalid("strength", "How different applies to a round from a concept or a photo.")
    job_id = new_id()
    with store.write() as db:
        waiting = next(db.query(q.COUNT_OPEN_JOBS_FOR_DESIGN, {"design_id": design_id}))["n"]
        if waiting >= max_waiting:
            raise Conflict("This design already has a round being drawn; wait for it or cancel it first.")
        stamp = now()
        if spec is not None and spec != design.spec:
            db.execute(q.UPDATE_DESIGN_SPEC, {"id": design_id, "spec_json": spec.model_dump_json(), "now": stamp}).fetchall()
        db.execute(q.CLEAR_DESIGN_SELECTION, {"id": design_id, "now": stamp})
        db.execute(q.INSERT_JOB, {
            "id": job_id, "design_id": design_id, "instruction": instruction,
            "parent_image_id": parent_image_id, "reference_id": reference_id, "mask_id": mask_id, "count": count,
            "strength": strength,
            "now": stamp,
        })
    log.info("job %s queued for design %s (%d images)", shown(job_id), shown(design_id), count)
    return get_job(store, job_id)


def get_job(store: Store, job_id: str) -> Job:
    """The job with this id, or NotFound."""
    row = store.query_one(q.GET_JOB, {"id": job_id})
    if row is None:
        raise NotFound("No job with that id.")
    return _job(row)


def latest_job(store: Store, design_id: str) -> Job | None:
    """The design's most recent job, if any."""
    row = store.query_one(q.LATEST_JOB_FOR_DESIGN, {"design_id": design_id})
    return _job(row) if row else None


def serving_order(rows: list[dict]) -> list[dict]:
    """Waiting jobs (rows with id, design_id, created_at, dispatched_at and served_at, the
    design's last start) in the order they will be drawn. Jobs already sent to the GPU
    workers through Celery (dispatcher = "celery") come first, in the order they were sent;
    then the worker takes designs never served first, then the least recently served, then
    the oldest job, and a design it serves goes to the back: this replays that."""
    sent = sorted((row for row in rows if row.get("dispatched_at")), key=lambda r: r["dispatched_at"])
    waiting = [row for row in rows if not row.get("dispatched_at")]
    served = {row["design_id"]: row["served_at"] for row in waiting}
    order, turn = sent, 0
    while waiting:
        nxt = min(waiting, key=lambda r: (served[r["design_id"]] is not None, served[r["design_id"]] or "",
                                          r["created_at"]))
        waiting.remove(nxt)
        turn += 1
        served[nxt["design_id"]] = f"~{turn:09d}"        # after every real time: back of the line
        order.append(nxt)
    return order


def position(store: Store, job: Job) -> int | None:
    """How many jobs will be drawn before a queued job (0 = next); None once it has started."""
    if job.status != "queued":
        return None
    order = serving_order(store.query(q.QUEUED_WITH_SERVICE))
    return next((ahead for ahead, row in enumerate(order) if row["id"] == job.id), len(order))


def queue_length(store: Store) -> int:
    """Jobs waiting or running."""
    return store.query_one(q.QUEUE_LENGTH)["n"]


def cancel(store: Store, job_id: str) -> Job:
    """Cancel a job: a queued one at once, a running one at the worker's next step."""
    job = get_job(store, job_id)
    with store.write() as db:
        db.execute(q.CANCEL_QUEUED_JOB, {"id": job_id, "now": now()})
        db.execute(q.REQUEST_CANCEL, {"id": job_id})
    log.info("job %s cancel requested (was %s)", shown(job_id), job.status)
    return get_job(store, job_id)


def claim_next(store: Store, worker_id: str) -> Job | None:
    """Atomically take the next queued job for this worker, or None when the queue is empty."""
    with store.write() as db:
        row = next(db.query(q.NEXT_QUEUED_JOB), None)
        if row is None:
            return None
        db.execute(q.CLAIM_JOB, {"id": row["id"], "worker_id": worker_id, "now": now()})
    return get_job(store, row["id"])


def report_progress(store: Store, job_id: str, fraction: float, preview_path: str | None = None) -> None:
    """Record progress (0..1), a heartbeat and, when given, the latest preview's path."""
    with store.write() as db:
        db.execute(q.JOB_PROGRESS, {"id": job_id, "progress": max(0.0, min(1.0, fraction)), "now": now()})
        if preview_path:
            db.execute(q.JOB_PREVIEW, {"id": job_id, "preview_path": preview_path})


def cancel_requested(store: Store, job_id: str) -> bool:
    """Whether someone asked to cancel this job."""
    row = store.query_one(q.JOB_CANCEL_REQUESTED, {"id": job_id})
    return bool(row and row["cancel_requested"])


def finish(store: Store, job_id: str, status: str, *, error: str | None = None,
           generator: str | None = None, images: list[dict] = ()) -> None:
    """Close a running job and, for a finished one, store its images in the same transaction."""
    with store.write() as db:
        for image in images:
            db.execute(q.INSERT_IMAGE, {**image, "now": now()})
        db.execute(q.FINISH_JOB, {"id": job_id, "status": status, "error": error,
                                  "generator": generator, "now": now()})
    log.info("job %s %s%s", shown(job_id), status, f": {error}" if error else "")


def recover(store: Store, max_attempts: int) -> tuple[list[str], list[str]]:
    """Deal with jobs a crash left running: requeue them, or fail those that already
    started `max_attempts` times (they may be what crashed the worker). Returns
    (requeued ids, failed ids)."""
    requeued, failed = [], []
    with store.write() as db:
        for row in list(db.query(q.JOBS_LEFT_RUNNING)):
            if row["attempts"] >= max_attempts or row["cancel_requested"]:
                error = ("Cancelled." if row["cancel_requested"] else
                         f"The generator stopped while drawing this {row['attempts']} times; not retrying.")
                db.execute(q.FAIL_LEFT_RUNNING_JOB, {"id": row["id"], "error": error, "now": now()})
                failed.append(row["id"])
            else:
                db.execute(q.REQUEUE_JOB, {"id": row["id"]})
                requeued.append(row["id"])
    for job_id in requeued:
        log.info("job %s left running by a stopped worker; requeued", shown(job_id))
    for job_id in failed:
        log.warning("job %s left running by a stopped worker; failed", shown(job_id))
    return requeued, failed


def generator_status(store: Store) -> dict | None:
    """The latest worker's generator, why it was chosen, and how long since it reported."""
    row = store.query_one(q.LATEST_WORKER)
    if row is None:
        return None
    beat = datetime.fromisoformat(row["heartbeat_at"])
    return {**row, "silent_seconds": (datetime.now(timezone.utc) - beat).total_seconds()}


def images_of(store: Store, job_id: str) -> list[dict]:
    """Rows of the images a job produced."""
    return store.query(q.IMAGES_FOR_JOB, {"job_id": job_id})


def spec_of(job: Job) -> dict:
    """The spec the job was queued with (the design may have changed since)."""
    return json.loads(job.spec_json)


def inputs_of(store: Store, image_id: str) -> dict[str, uploads.Upload]:
    """The customer's reference photo and painted mask the image's round was drawn from
    (either may be absent), so the jeweler sees what the customer showed the studio."""
    row = store.query_one(q.JOB_OF_IMAGE, {"image_id": image_id})
    found = {}
    for kind, upload_id in (("reference", row and row["reference_id"]), ("mask", row and row["mask_id"])):
        if upload_id:
            found[kind] = uploads.get_upload(store, upload_id)
    return found
