"""Backups a store can trust: one archive with an online SQLite backup (never a file copy
of a live database), the concept images, the uploads and the settings, each member's
sha256 in a manifest, checked with PRAGMA integrity_check before it is called good.
Restore verifies everything in a staging folder first and only then swaps it in, so a
truncated or tampered archive leaves the current data untouched.

The downloadable model weights (base, VAE, speed LoRA) are not backed up: `diamra models
pull` can fetch them again. The store's style LoRAs are (a trained style exists nowhere
else), with models/lock.json, which records their hashes, which are on and which one is
the default.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from appliance.config import Settings
from appliance.ops.models import sha256_of
from appliance.storage.migrations import MIGRATIONS

ARCHIVE_PREFIX = "diamra-backup-"
MANIFEST = "MANIFEST.json"
FOLDERS = ("images", "uploads", "attachments", "training")
# Not worth restoring: a running round's preview only served the wait; a style's
# checkpoints and caches are big and rebuilt from its photos (training again resumes or
# starts over, to the same LoRA).
SKIPPED = {"images": "previews", "training": "work"}
STYLES_FOLDER = "models/styles"
MODEL_LOCK = "models/lock.json"
SETTINGS_FILE = "diamra.toml"
LAST_GOOD = "last-good.json"


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why, and nothing changed."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    seconds: float
    files: int
    removed: list[Path]


def _integrity(database: Path) -> str:
    conn = sqlite3.connect(database)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def create_backup(settings: Settings, target: Path | None = None, keep: int = 7) -> BackupResult:
    """Write a verified archive of the data folder; keep the newest `keep` archives in the
    backups folder."""
    started = time.monotonic()
    data = settings.data_dir
    if not settings.database_path.exists():
        raise BackupError(f"No database at {settings.database_path}; nothing to back up.")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = Path(target) if target else settings.backups_dir / f"{ARCHIVE_PREFIX}{stamp}.tar.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.backups_dir if settings.backups_dir.exists() else None) as work:
        copy = Path(work) / "diamra.db"
        source = sqlite3.connect(settings.database_path, timeout=30)
        dest = sqlite3.connect(copy)
        try:
            source.backup(dest)          # SQLite's online backup: consistent while the shop runs
        finally:
            dest.close()
            source.close()
        verdict = _integrity(copy)
        if verdict != "ok":
            raise BackupError(f"The database copy failed its integrity check: {verdict}")
        members: list[tuple[str, Path]] = [("diamra.db", copy)]
        for folder in FOLDERS:
            root = data / folder
            if root.exists():
                members += [(str(p.relative_to(data)), p) for p in sorted(root.rglob("*"))
                            if p.is_file() and not p.name.endswith(".part") and not p.name.startswith(".")
                            and p.relative_to(root).parts[0] != SKIPPED.get(folder)]
        styles = data / STYLES_FOLDER
        if styles.exists():
            members += [(str(p.relative_to(data)), p) for p in sorted(styles.iterdir())
                        if p.is_file() and not p.name.endswith(".part") and not p.name.startswith(".")]
        if (data / MODEL_LOCK).is_file():
            members.append((MODEL_LOCK, data / MODEL_LOCK))
        installed = Path(os.environ.get("DIAMRA_CONFIG", "") or "/nonexistent")
        for settings_file in (data / SETTINGS_FILE, installed):
            if settings_file.is_file():      # the data folder's, else the installed /etc one
                members.append((SETTINGS_FILE, settings_file))
                break
        manifest = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "schema_version": MIGRATIONS[-1][0],
                    "files": {name: {"sha256": sha256_of(path), "size": path.stat().st_size} for name, path in members}}
        partial = target.with_name(target.name + ".part")
        with tarfile.open(partial, "w:gz") as archive:
            body = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(body), int(time.time())
            archive.addfile(info, io.BytesIO(body))
            for name, path in members:
                archive.add(path, arcname=name, recursive=False)
        os.replace(partial, target)
    removed = _prune(settings.backups_dir, keep) if target.parent == settings.backups_dir else []
    result = BackupResult(target, target.stat().st_size, time.monotonic() - started, len(members), removed)
    settings.backups_dir.mkdir(parents=True, exist_ok=True)
    (settings.backups_dir / LAST_GOOD).write_text(json.dumps({
        "path": str(target), "at": manifest["created_at"], "size_bytes": result.size_bytes, "files": len(members)}))
    return result


def _prune(folder: Path, keep: int) -> list[Path]:
    archives = sorted(folder.glob(f"{ARCHIVE_PREFIX}*.tar.gz"))
    old = archives[:-keep] if keep > 0 else []
    for path in old:
        path.unlink()
    return old


def last_good(settings: Settings) -> dict | None:
    """The newest backup that was verified when written, or None."""
    path = settings.backups_dir / LAST_GOOD
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def _assert_stopped(database: Path) -> None:
    """Refuse to restore over a database something is using."""
    if not database.exists():
        return
    conn = sqlite3.connect(database, timeout=0.2, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError:
        raise BackupError("The database is in use: stop Diamra (web and worker) before restoring.") from None
    finally:
        conn.close()


def restore_backup(settings: Settings, archive_path: Path) -> dict:
    """Restore an archive into the (stopped or new) data folder: verify every member in a
    staging folder, then swap the database, images, uploads and settings into place."""
    archive_path = Path(archive_path)
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    _assert_stopped(settings.database_path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    staging = data / f".restore-{stamp}"
    try:
        manifest = _extract_verified(archive_path, staging)
        verdict = _integrity(staging / "diamra.db")
        if verdict != "ok":
            raise BackupError(f"The archived database failed its integrity check: {verdict}")
        replaced = data / f".replaced-{stamp}"
        (replaced / "models").mkdir(parents=True)
        # The style files and the lock go back together; an archive from before styles were
        # backed up leaves the installed ones alone.
        model_names = []
        if (staging / MODEL_LOCK).exists():
            model_names = [STYLES_FOLDER, MODEL_LOCK]
            _keep_installed_weights(staging / MODEL_LOCK, data / MODEL_LOCK)
            (data / "models").mkdir(exist_ok=True)
        names = ["diamra.db", "diamra.db-wal", "diamra.db-shm", *FOLDERS, SETTINGS_FILE, *model_names]
        for name in names:
            if (data / name).exists():
                os.replace(data / name, replaced / name)
        for name in ["diamra.db", *FOLDERS, SETTINGS_FILE, *model_names]:
            if (staging / name).exists():
                os.replace(staging / name, data / name)
        for folder in FOLDERS:
            (data / folder).mkdir(exist_ok=True)
        shutil.rmtree(replaced)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return {"files": len(manifest["files"]), "created_at": manifest["created_at"],
            "schema_version": manifest["schema_version"]}


def _keep_installed_weights(restored: Path, current: Path) -> None:
    """The archive's styles and default with this folder's record of the base, VAE and speed
    weights actually on its disk (those were not in the archive)."""
    if not current.is_file():
        return
    try:
        lock = json.loads(restored.read_text(encoding="utf-8"))
        lock["models"] = json.loads(current.read_text(encoding="utf-8")).get("models", {})
    except (ValueError, AttributeError, TypeError):
        return                  # a lock that is not JSON: restore the archive's as it was
    restored.write_text(json.dumps(lock, indent=2, sort_keys=True), encoding="utf-8")


def _extract_verified(archive_path: Path, staging: Path) -> dict:
    if not archive_path.is_file():
        raise BackupError(f"No backup archive at {archive_path}.")
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            manifest, expected, seen = None, {}, set()
            for member in archive:
                name = member.name
                if manifest is None:
                    if name != MANIFEST:
                        raise BackupError(f"{archive_path} is not a Diamra backup (no {MANIFEST} first).")
                    manifest = json.loads(archive.extractfile(member).read())
                    expected = manifest["files"]
                    continue
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    raise BackupError(f"{archive_path} holds a path outside the data folder ({name!r}); refusing it.")
                if name not in expected or not member.isfile():
                    raise BackupError(f"{archive_path} holds an unexpected entry {name!r}; refusing it.")
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
                if sha256_of(target) != expected[name]["sha256"]:
                    raise BackupError(f"{name} in {archive_path} does not match its recorded sha256: "
                                      "the archive was altered or damaged.")
                seen.add(name)
    except (tarfile.TarError, EOFError, OSError, ValueError, KeyError) as exc:
        raise BackupError(f"{archive_path} is truncated or damaged ({exc.__class__.__name__}: {exc}).") from None
    if manifest is None:
        raise BackupError(f"{archive_path} is empty.")
    missing = set(expected) - seen
    if missing:
        raise BackupError(f"{archive_path} is incomplete: {len(missing)} file(s) missing, e.g. {sorted(missing)[0]}.")
    return manifest
