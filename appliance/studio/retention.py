"""What the studio keeps, and for how long: the data folder stays bounded without ever
touching what an order refers to.

- A running round's preview is dropped the moment the round ends (`drop_preview`); a
  sweep catches any a crash left behind.
- A design nobody ordered goes, with its rounds, concepts and uploads, once it has been
  untouched for `keep_unordered_days` (0 keeps them forever).
- Failed and cancelled rounds, which drew nothing, go after `keep_failed_jobs_days`.
- Sent mails go after `SENT_MAIL_DAYS` (they hold private links; unsent ones stay).
- Expired staff sessions go; files no row names (a crash between writing a file and
  committing its row) go once they are an hour old.

Rows go first, in one transaction; files after it commits, so a crash in between leaves
only files no row names, which the next sweep removes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio.designs import shown

log = logging.getLogger(__name__)

# A file this young may be one a worker is writing right now; leave it to the next sweep.
STRAY_FILE_GRACE_SECONDS = 3600
# Designs removed per transaction, so a first sweep over years of data never holds the
# write lock for long.
DESIGNS_PER_BATCH = 200
SENT_MAIL_DAYS = 90


@dataclass(frozen=True)
class Policy:
    keep_unordered_days: int = 30
    keep_failed_jobs_days: int = 7

    @classmethod
    def from_settings(cls, settings) -> "Policy":
        return cls(settings.keep_unordered_days, settings.keep_failed_jobs_days)


@dataclass
class Pruned:
    designs: list[str] = field(default_factory=list)
    jobs: int = 0
    previews: int = 0
    stray_files: int = 0
    sessions: int = 0
    mails: int = 0
    bytes_freed: int = 0

    def summary(self) -> str:
        return (f"{len(self.designs)} unordered designs, {self.jobs} failed or cancelled rounds, "
                f"{self.previews} previews, {self.stray_files} stray files, {self.mails} old sent mails and "
                f"{self.sessions} expired sessions removed; {self.bytes_freed / 1e6:.1f} MB freed")


def drop_preview(store: Store, images_dir: Path, job_id: str) -> None:
    """Remove an ended round's preview file and forget its path (a round still running,
    left for a restarted worker to redraw, keeps it)."""
    with store.write() as db:
        ended = db.execute(q.CLEAR_JOB_PREVIEW, {"id": job_id}).rowcount
    if ended:
        (Path(images_dir) / "previews" / f"{job_id}.jpg").unlink(missing_ok=True)


def prune(store: Store, images_dir: Path, uploads_dir: Path, policy: Policy, *,
          moment: datetime | None = None) -> Pruned:
    """One sweep under `policy`; returns what went."""
    moment = moment or datetime.now(timezone.utc)
    images_dir, uploads_dir = Path(images_dir), Path(uploads_dir)
    pruned = Pruned()
    if policy.keep_unordered_days:
        cutoff = (moment - timedelta(days=policy.keep_unordered_days)).isoformat()
        while batch := _prune_designs(store, images_dir, uploads_dir, cutoff, pruned):
            pruned.designs += batch
    if policy.keep_failed_jobs_days:
        cutoff = (moment - timedelta(days=policy.keep_failed_jobs_days)).isoformat()
        with store.write() as db:
            pruned.jobs = db.execute(q.DELETE_OLD_EMPTY_JOBS, {"cutoff": cutoff}).rowcount
    _prune_previews(store, images_dir, pruned)
    with store.write() as db:
        pruned.sessions = db.execute(q.DELETE_EXPIRED_SESSIONS, {"now": now()}).rowcount
        pruned.mails = db.execute(q.DELETE_OLD_SENT_MAILS, {
            "cutoff": (moment - timedelta(days=SENT_MAIL_DAYS)).isoformat()}).rowcount
    _prune_stray_files(store, images_dir, uploads_dir, pruned)
    if pruned.designs or pruned.jobs or pruned.previews or pruned.stray_files:
        log.info("retention: %s", pruned.summary())
    return pruned


def _prune_designs(store: Store, images_dir: Path, uploads_dir: Path, cutoff: str, pruned: Pruned) -> list[str]:
    files: list[Path] = []
    with store.write() as db:
        ids = [row["id"] for row in db.query(q.STALE_UNORDERED_DESIGNS, {"cutoff": cutoff,
                                                                         "limit": DESIGNS_PER_BATCH})]
        for design_id in ids:
            files += [images_dir / row["path"] for row in db.query(q.IMAGE_PATHS_OF_DESIGN, {"design_id": design_id})]
            files += [uploads_dir / row["path"] for row in db.query(q.UPLOAD_PATHS_OF_DESIGN, {"design_id": design_id})]
            db.execute(q.DELETE_DESIGN, {"id": design_id})
    for path in files:
        pruned.bytes_freed += _remove(path)
    for design_id in ids:
        for folder in (images_dir / design_id, uploads_dir / design_id):
            _remove_empty_folder(folder)
        log.info("retention: unordered design %s removed", shown(design_id))
    return ids


def _prune_previews(store: Store, images_dir: Path, pruned: Pruned) -> None:
    for row in store.query(q.ENDED_JOB_PREVIEWS):
        with store.write() as db:
            db.execute(q.CLEAR_JOB_PREVIEW, {"id": row["id"]})
        pruned.bytes_freed += _remove(images_dir / row["preview_path"])
        pruned.previews += 1
    running = {row["preview_path"] for row in store.query(q.RUNNING_JOB_PREVIEWS)}
    folder = images_dir / "previews"
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and f"previews/{path.name}" not in running and _old(path, 60):
                pruned.bytes_freed += _remove(path)
                pruned.previews += 1


def _prune_stray_files(store: Store, images_dir: Path, uploads_dir: Path, pruned: Pruned) -> None:
    named = {images_dir / row["path"] for row in store.query(q.ALL_IMAGE_PATHS)}
    named |= {uploads_dir / row["path"] for row in store.query(q.ALL_UPLOAD_PATHS)}
    for root in (images_dir, uploads_dir):
        if not root.is_dir():
            continue
        for folder in [p for p in root.iterdir() if p.is_dir() and p.name != "previews"]:
            for path in folder.iterdir():
                if path.is_file() and path not in named and _old(path, STRAY_FILE_GRACE_SECONDS):
                    pruned.bytes_freed += _remove(path)
                    pruned.stray_files += 1
            _remove_empty_folder(folder)


def _old(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False


def _remove(path: Path) -> int:
    try:
        size = path.stat().st_size
        path.unlink()
        return size
    except FileNotFoundError:
        return 0


def _remove_empty_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):      # not empty, or already gone: left as it is
        os.rmdir(folder)
