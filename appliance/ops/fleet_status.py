"""The GPU workers and the queue as staff read them: who draws, on which box and card,
what each is doing now (drawing a job, free, or silent past its limit), the workers
added but never heard from, and the jobs waiting in the order they will be served. The
staff Workers page (web.workers_staff), its JSON twin and `diamra status` all say these
same facts; ids are shown by their first six characters, as the log shows them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from appliance.config import Settings
from appliance.ops.health import WORKER_SILENT_SECONDS as LOCAL_SILENT_SECONDS
from appliance.storage import store as q
from appliance.storage.store import Store
from appliance.studio import fleet, jobs

SHOWN = 6          # an id's characters shown (designs.shown): enough to follow, too few to use


def short(capability: str | None) -> str | None:
    return capability[:SHOWN] if capability else None


def ago(seconds: float) -> str:
    """A span in words a person reads at a glance: 45 s, 12 min, 3 h, 2 days."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


@dataclass
class Worker:
    name: str
    kind: str                      # local (the worker on the shop's box) | remote (a GPU box)
    box: str | None
    gpu: str | None
    generator: str
    model: str | None
    jobs_done: int
    started_at: str
    heartbeat_at: str
    silent_seconds: int            # since it last reported
    limit_seconds: int             # silent longer than this: not answering
    state: str                     # silent | drawing | free
    job: str | None = None         # the job it is drawing (first characters)
    progress: int | None = None    # that job's percent

    @property
    def doing(self) -> str:
        """What it is doing now, in words (never by colour alone)."""
        if self.state == "silent":
            return (f"Not answering: silent for {ago(self.silent_seconds)}"
                    + (f" (had job {self.job})" if self.job else ""))
        if self.state == "drawing":
            return f"Drawing job {self.job}: {self.progress}%"
        return "Free"

    @property
    def heard(self) -> str:
        return f"{ago(self.silent_seconds)} ago"

    @property
    def where(self) -> str:
        return self.box or ("this box" if self.kind == "local" else "box not reported")


@dataclass
class Waiting:
    position: int                  # 0: served next
    job: str
    design: str
    images: int
    created_at: str
    waited_seconds: int
    sent: bool                     # handed to Redis already (dispatcher = celery)


@dataclass
class Running:
    job: str
    design: str
    images: int
    worker: str | None
    progress: int
    attempt: int
    cancelling: bool
    started_at: str | None


@dataclass
class Fleet:
    dispatcher: str                            # sqlite | celery
    workers: list[Worker]
    never_connected: list[dict]                # name, created_by, created_at
    registered: int                            # remote workers with a token
    waiting: list[Waiting] = field(default_factory=list)
    running: list[Running] = field(default_factory=list)

    @property
    def answering(self) -> list[Worker]:
        return [w for w in self.workers if w.kind == "remote" and w.state != "silent"]

    @property
    def dispatcher_words(self) -> str:
        if self.dispatcher == "celery":
            return f"Celery through Redis: {self.registered} GPU worker{'' if self.registered == 1 else 's'}"
        return "One box: the worker on this box takes jobs from the database"

    @property
    def has_remote(self) -> bool:
        return bool(self.registered or any(w.kind == "remote" for w in self.workers))

    @property
    def remote_idle_note(self) -> str | None:
        """Remote workers that cannot get a job as the shop is set up, said plainly."""
        if self.dispatcher != "celery" and self.has_remote:
            return ("GPU workers on other boxes are added, but this shop takes its jobs from the database "
                    "(dispatcher = \"sqlite\"): they get no jobs until dispatcher = \"celery\" is set.")
        return None

    @property
    def queue_length(self) -> int:
        return len(self.waiting) + len(self.running)

    def as_dict(self) -> dict:
        return {
            "dispatcher": self.dispatcher, "dispatcher_words": self.dispatcher_words,
            "registered": self.registered, "answering": len(self.answering),
            "workers": [{**asdict(w), "doing": w.doing, "silent": w.state == "silent"} for w in self.workers],
            "never_connected": self.never_connected,
            "queue": {"length": self.queue_length, "waiting": [asdict(w) for w in self.waiting],
                      "running": [asdict(r) for r in self.running]},
        }


def _shown_workers(settings: Settings, store: Store, rows: list[dict], running: dict[str, dict]) -> list[Worker]:
    # Each start of the shop's own worker is a new row: the newest is this box's worker;
    # older ones are shown only while a job is still theirs. Under Celery the shop's own
    # worker does not draw: its row is shown only while it still answers or holds a job.
    local = [row for row in rows if row["kind"] == "local"]
    newest = max(local, key=lambda row: row["heartbeat_at"])["id"] if local else None
    found = []
    for row in rows:
        remote = row["kind"] == "remote"
        limit = settings.worker_silent_seconds if remote else LOCAL_SILENT_SECONDS
        silent = row["silent_seconds"] > limit
        if not remote and not row["job_id"] and (
                row["id"] != newest or (settings.dispatcher == "celery" and silent)):
            continue
        job = running.get(row["job_id"]) if row["job_id"] else None
        done = row["jobs_done"] if remote else store.query_one(q.JOBS_ENDED_BY_WORKER, {"id": row["id"]})["n"]
        found.append(Worker(
            name=row["id"], kind=row["kind"], box=row["box"] or None, gpu=row["gpu"] or None,
            generator=row["generator"], model=row["model"] or None, jobs_done=done, started_at=row["started_at"],
            heartbeat_at=row["heartbeat_at"], silent_seconds=int(row["silent_seconds"]), limit_seconds=limit,
            # A job that ended between the two reads: free.
            state="silent" if silent else "drawing" if job else "free", job=short(row["job_id"]),
            progress=int(job["progress"] * 100) if job else None))
    return sorted(found, key=lambda worker: (worker.kind != "local", worker.name))     # this box's first


def snapshot(settings: Settings, store: Store) -> Fleet:
    """The workers and the queue now."""
    moment = datetime.now(timezone.utc)
    running_rows = store.query(q.RUNNING_JOBS_FOR_STAFF)
    running = {row["id"]: row for row in running_rows}
    rows = fleet.workers(store)
    workers = _shown_workers(settings, store, rows, running)
    names = fleet.worker_names(store)
    heard = {row["id"] for row in rows}
    waiting = jobs.serving_order(store.query(q.WAITING_JOBS_FOR_STAFF))
    return Fleet(
        dispatcher=settings.dispatcher, workers=workers, registered=len(names),
        never_connected=[dict(row) for row in names if row["name"] not in heard],
        waiting=[Waiting(position=index, job=short(row["id"]), design=short(row["design_id"]), images=row["count"],
                         created_at=row["created_at"], sent=row["dispatched_at"] is not None,
                         waited_seconds=int((moment - datetime.fromisoformat(row["created_at"])).total_seconds()))
                 for index, row in enumerate(waiting)],
        running=[Running(job=short(row["id"]), design=short(row["design_id"]), images=row["count"],
                         worker=row["worker_id"], progress=int(row["progress"] * 100), attempt=row["attempts"],
                         cancelling=bool(row["cancel_requested"]), started_at=row["started_at"])
                 for row in running_rows])


def status_lines(fleet_now: Fleet) -> list[str]:
    """`diamra status`'s lines on the GPU workers on other boxes, one each, and the queue
    (indented like its others; the shop's own worker has its line already)."""
    lines = [f"  dispatcher: {fleet_now.dispatcher_words}, {len(fleet_now.answering)} answering"]
    for worker in fleet_now.workers:
        if worker.kind != "remote":
            continue
        if worker.state == "drawing":
            doing = f"drawing job {worker.job} ({worker.progress}%)"
        elif worker.state == "silent":
            doing = f"NOT ANSWERING, silent for {ago(worker.silent_seconds)}" + (
                f" (had job {worker.job})" if worker.job else "")
        else:
            doing = "free"
        lines.append(f"  GPU worker {worker.name} on {worker.where}, {worker.gpu or 'GPU not reported'}, "
                     f"{worker.generator} generator: {doing}, last heard {worker.heard}, "
                     f"{worker.jobs_done} job{'' if worker.jobs_done == 1 else 's'} done")
    for row in fleet_now.never_connected:
        lines.append(f"  GPU worker {row['name']}: added, never connected (added by {row['created_by']} "
                     f"{row['created_at'][:10]})")
    lines.append(f"  queue length: {fleet_now.queue_length} ({len(fleet_now.waiting)} waiting, "
                 f"{len(fleet_now.running)} drawing)")
    if fleet_now.remote_idle_note:
        lines.append(f"  note: {fleet_now.remote_idle_note}")
    return lines
