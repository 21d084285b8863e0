"""Backups: a populated appliance backed up and restored into a new folder compares equal,
row by row and file by file; a damaged archive changes nothing."""

import gzip
import hashlib
import io
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from appliance import cli
from appliance.config import load_settings
from appliance.ops.backups import BackupError, create_backup, last_good, restore_backup
from appliance.studio import designs, jobs, orders, uploads


def populate(settings, store, worker):
    (settings.data_dir / "diamra.toml").write_text('store_name = "Maison Or"\n')
    design = designs.create_design(store, "14k rose gold ring with a 1.5 carat oval lab diamond, size 6")
    photo = io.BytesIO()
    Image.new("RGB", (80, 60), (200, 150, 90)).save(photo, format="PNG")
    uploads.accept(store, settings.uploads_dir, design.id, "reference", photo.getvalue())
    jobs.enqueue(store, design.id, count=2)
    worker.run_once()
    image = designs.images(store, design.id)[0]
    order = orders.place_order(store, design.id, image.id, orders.check_contact("Ana", "ana@example.com", None, None),
                               spec_revision=design.spec_revision)
    orders.add_message(store, order["number"], "Can it be ready by May?", actor="customer", actor_name="Ana")
    # The store's own style: its photos and samples are backed up, its checkpoints are not.
    from appliance.studio import styles, training_queue
    from pipelines.prompts import caption
    from tests.unit.test_styles import photo as style_photo
    style = styles.create(store, "house", "dmrhouse", 100, actor="anna")
    styles.add_photo(store, settings.training_dir, style.id, "rose gold ring.jpg", style_photo(7), caption)
    sample = settings.training_dir / style.id / "samples" / "step-000000-0.png"
    sample.parent.mkdir(parents=True)
    Image.new("RGB", (64, 64), "white").save(sample)
    training_queue.record_samples(store, style.id, 0, [str(sample.relative_to(settings.training_dir))])
    checkpoint = styles.work_dir(settings.training_dir, style.id) / "checkpoint-000050" / "optimizer.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"big and rebuilt from the photos")
    return order


def snapshot(data: Path) -> dict:
    """Every row of every table and every file's hash."""
    conn = sqlite3.connect(data / "diamra.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    rows = {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}"))) for t in tables}
    conn.close()
    files = {str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
             for folder in ("images", "uploads", "training") for p in (data / folder).rglob("*")
             if p.is_file() and "work" not in p.relative_to(data).parts}
    return {"rows": rows, "files": files, "settings": (data / "diamra.toml").read_text()}


def test_backup_then_restore_into_a_new_folder_gives_back_everything(settings, store, worker, tmp_path):
    populate(settings, store, worker)
    result = create_backup(settings)
    assert result.path.exists() and result.size_bytes > 0 and result.files >= 5
    assert last_good(settings)["path"] == str(result.path)
    fresh = load_settings(tmp_path / "restored")
    summary = restore_backup(fresh, result.path)
    assert summary["files"] == result.files
    assert snapshot(fresh.data_dir) == snapshot(settings.data_dir)
    assert not list(fresh.data_dir.glob("diamra.db-*"))              # no stale -wal/-shm
    assert len([f for f in snapshot(fresh.data_dir)["files"] if f.startswith("training/")]) == 2
    assert not (fresh.training_dir / "work").exists()                 # checkpoints are not backed up
    restored = cli.open_appliance(fresh)
    assert orders.get_order(restored, number=1001)["events"][-1]["body"] == "Can it be ready by May?"
    restored.close()


def test_only_the_newest_backups_are_kept(settings, store):
    made = [create_backup(settings, keep=2).path for _ in range(4)]
    kept = sorted(settings.backups_dir.glob("diamra-backup-*.tar.gz"))
    assert kept == sorted(made[-2:])


def test_a_truncated_archive_is_refused_and_nothing_changes(settings, store, worker, tmp_path):
    populate(settings, store, worker)
    archive = create_backup(settings).path
    target = load_settings(tmp_path / "target")
    restore_backup(target, archive)
    before = snapshot(target.data_dir)
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(BackupError, match="truncated or damaged|incomplete"):
        restore_backup(target, broken)
    assert snapshot(target.data_dir) == before
    assert not list(target.data_dir.glob(".restore-*"))


def test_a_tampered_archive_is_refused(settings, store, worker, tmp_path):
    populate(settings, store, worker)
    archive = create_backup(settings).path
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive, "r:gz") as source, tarfile.open(tampered, "w:gz") as out:
        for member in source:
            data = source.extractfile(member).read()
            if member.name == "diamra.toml":
                data = b'store_name = "Somebody Else"\n'
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    with pytest.raises(BackupError, match="does not match its recorded sha256"):
        restore_backup(load_settings(tmp_path / "t"), tampered)


def test_an_archive_reaching_outside_the_data_folder_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    body = b"x"
    manifest = json.dumps({"created_at": "2026-01-01T00:00:00+00:00", "schema_version": 2,
                           "files": {"../escape.txt": {"sha256": hashlib.sha256(body).hexdigest(), "size": 1}}}).encode()
    with tarfile.open(evil, "w:gz") as out:
        for name, data in (("MANIFEST.json", manifest), ("../escape.txt", body)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupError, match="outside the data folder"):
        restore_backup(load_settings(tmp_path / "d"), evil)
    assert not (tmp_path / "escape.txt").exists()


def test_restoring_over_a_running_appliance_is_refused(settings, store, tmp_path):
    archive = create_backup(settings).path
    with store.write():                                  # something holds the database
        with pytest.raises(BackupError, match="stop Diamra"):
            restore_backup(settings, archive)


def test_not_a_backup_at_all(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"hello"))
    with pytest.raises(BackupError, match="truncated or damaged"):
        restore_backup(load_settings(tmp_path / "d"), junk)


def test_an_installed_appliance_s_settings_travel_with_the_backup(settings, store, tmp_path, monkeypatch):
    etc = tmp_path / "etc-diamra.toml"
    etc.write_text('store_name = "Maison Or"\ntrusted_proxies = "127.0.0.1"\n')
    monkeypatch.setenv("DIAMRA_CONFIG", str(etc))
    archive = create_backup(settings).path
    monkeypatch.delenv("DIAMRA_CONFIG")
    fresh = tmp_path / "fresh"
    restore_backup(load_settings(fresh), archive)
    assert load_settings(fresh).store_name == "Maison Or"


def test_the_store_s_style_loras_and_model_lock_survive_a_restore_but_downloadable_weights_are_not_backed_up(
        settings, store, tmp_path):
    from appliance.ops.models import ModelStore
    models = ModelStore(settings.models_dir, settings.manifest_path)
    trained = tmp_path / "trained.safetensors"
    trained.write_bytes(b"a style trained on this store's photos")
    models.import_style("ours", trained, trigger="dmrstyle", weight=0.8, source="trained")
    models.import_style("later", trained, trigger="", weight=1.0, enabled=False)
    base_weights = settings.models_dir / "sdxl-base" / "unet" / "diffusion_pytorch_model.fp16.safetensors"
    base_weights.parent.mkdir(parents=True)
    base_weights.write_bytes(b"gigabytes the hub can send again")
    archive = create_backup(settings).path
    with tarfile.open(archive, "r:gz") as members:
        names = members.getnames()
    assert "models/styles/ours.safetensors" in names and "models/lock.json" in names
    assert not any("sdxl-base" in name for name in names)

    fresh = load_settings(tmp_path / "restored")
    restore_backup(fresh, archive)
    restored = ModelStore(fresh.models_dir, fresh.manifest_path)
    assert (fresh.models_dir / "styles" / "ours.safetensors").read_bytes() == trained.read_bytes()
    assert [(s.name, s.enabled, s.default, s.source, s.weight) for s in restored.styles()] == [
        ("later", False, False, "imported", 1.0), ("ours", True, True, "trained", 0.8)]
    assert [c.status for c in restored.verify() if c.model.startswith("style:")] == ["ok", "ok"]


def test_restoring_styles_keeps_this_folder_s_record_of_its_own_downloaded_weights(settings, store, tmp_path):
    from appliance.ops.models import ModelStore
    style = tmp_path / "style.safetensors"
    style.write_bytes(b"the store's style")
    ModelStore(settings.models_dir, settings.manifest_path).import_style("ours", style, "", 1.0)
    archive = create_backup(settings).path
    target = load_settings(tmp_path / "target")
    target.models_dir.mkdir(parents=True)
    installed = {"base": {"repo": "stabilityai/stable-diffusion-xl-base-1.0", "files": {"model_index.json": "ab"}}}
    (target.models_dir / "lock.json").write_text(json.dumps({"models": installed, "styles": {}}))
    restore_backup(target, archive)
    lock = json.loads((target.models_dir / "lock.json").read_text())
    assert lock["models"] == installed and list(lock["styles"]) == ["ours"] and lock["default_style"] == "ours"
