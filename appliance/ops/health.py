"""Is the appliance well? One check that the web apps serve at /healthz, `diamra status`
prints in words, and the staff dashboard turns into banners."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone

from appliance.config import Settings
from appliance.ops import backups, mail
from appliance.storage import store as q
from appliance.storage.store import Store
from appliance.studio import jobs, styles

WORKER_SILENT_SECONDS = 120       # the worker beats every 10 s idle, every 5 s while drawing
DISK_LOW_BYTES = 5 * 2**30
DISK_CRITICAL_BYTES = 512 * 2**20
BACKUP_STALE_DAYS = 2


@dataclass
class Health:
    ok: bool
    problems: list[str] = field(default_factory=list)     # unhealthy: /healthz answers 503
    warnings: list[str] = field(default_factory=list)     # worth a banner, still serving
    facts: dict = field(default_factory=dict)


def check(settings: Settings, store: Store, *, probe_write: bool = True) -> Health:
    """Database writable (or, without `probe_write`, readable: the public check must not
    take the write lock on every call), worker alive, generator and why, queue, disk,
    last good backup."""
    health = Health(ok=True)
    try:
        if probe_write:
            with store.write() as db:
                db.execute(q.PING)
        else:
            store.query_one(q.PING)
        health.facts["database"] = "writable" if probe_write else "readable"
    except Exception as exc:  # a locked, read-only or vanished database: say so, do not crash
        health.problems.append(f"The database is not writable: {exc}")
        health.facts["database"] = f"error: {exc}"

    status = jobs.generator_status(store)
    if status is None:
        health.problems.append("No generation worker has started.")
        health.facts["worker"] = None
    else:
        silent = int(status["silent_seconds"])
        health.facts["worker"] = {"id": status["id"], "heartbeat_age_s": silent, "generator": status["generator"],
                                  "reason": status["reason"]}
        if silent > WORKER_SILENT_SECONDS:
            health.problems.append(f"The generation worker has not reported for {silent // 60} min {silent % 60} s.")
        if status["generator"] == "sketch":
            health.warnings.append(f"Concepts are sketch previews, not AI images: {status['reason']}.")
    health.facts["queue"] = jobs.queue_length(store)
    health.facts["training"] = [{"name": s.name, "status": s.status, "step": s.step, "steps": s.steps}
                                for s in styles.listing(store) if s.status in ("queued", "training")]

    usage = shutil.disk_usage(settings.data_dir)
    health.facts["disk_free_bytes"] = usage.free
    if usage.free < DISK_CRITICAL_BYTES:
        health.problems.append(f"Disk almost full: {usage.free / 2**20:.0f} MB free.")
    elif usage.free < DISK_LOW_BYTES:
        health.warnings.append(f"Disk space is low: {usage.free / 2**30:.1f} GB free.")

    last = backups.last_good(settings)
    health.facts["last_backup"] = last
    if last is None:
        health.warnings.append("No backup has been made yet.")
    else:
        age = datetime.now(timezone.utc) - datetime.fromisoformat(last["at"])
        if age.days >= BACKUP_STALE_DAYS:
            health.warnings.append(f"The last good backup is {age.days} days old.")
    if settings.smtp_host and not probe_write:
        health.facts["mail"] = {"on": True}
    elif settings.smtp_host:
        troubled = mail.status(store, mail.SmtpSettings.from_settings(settings))
        health.facts["mail"] = {"on": True, "retrying": troubled["retrying"], "failed": troubled["failed"]}
    else:
        health.facts["mail"] = {"on": False}
    health.ok = not health.problems
    return health
