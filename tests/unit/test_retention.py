"""The data folder stays bounded: unordered designs, ended rounds' previews, failed
rounds and stray files go under the retention settings; nothing an order refers to does."""

import os
import subprocess
import tarfile
import time
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from appliance import cli
from appliance.config import SettingsError, load_settings
from appliance.ops import backups
from appliance.studio import designs, jobs, orders, retention, uploads
from appliance.studio.round_output import ProgressReporter
from tests.unit.test_cli import DIAMRA

POLICY = retention.Policy(keep_unordered_days=30, keep_failed_jobs_days=7)


def drawn_design(store, worker, description="14k rose gold ring with a 1 carat oval diamond"):
    design = designs.create_design(store, description)
    jobs.enqueue(store, design.id, count=2)
    assert worker.run_once()
    return designs.get_design(store, design.id)


def age(store, design_id, days):
    """Move a design and everything about it `days` into the past."""
    then = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
    with store.write() as db:
        db.execute("UPDATE designs SET created_at = :t, updated_at = :t WHERE id = :id", {"t": then, "id": design_id})
        db.execute("UPDATE jobs SET created_at = :t, finished_at = :t WHERE design_id = :id", {"t": then, "id": design_id})


def files_of(settings, store, design_id):
    paths = [settings.images_dir / i.path for i in designs.images(store, design_id)]
    paths += [settings.uploads_dir / r["path"] for r in store.query("SELECT path FROM uploads WHERE design_id = ?",
                                                                   (design_id,))]
    return paths


def png_bytes(size=(320, 320)):
    import io
    buffer = io.BytesIO()
    Image.new("RGB", size, (180, 140, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_old_unordered_design_goes_with_its_files_and_an_ordered_one_stays(settings, store, worker):
    abandoned = drawn_design(store, worker)
    uploads.accept(store, settings.uploads_dir, abandoned.id, "reference", png_bytes())
    ordered = drawn_design(store, worker, "platinum pendant with a pear sapphire")
    image = designs.images(store, ordered.id)[0]
    order = orders.place_order(store, ordered.id, image.id, orders.check_contact("Ana", "ana@example.com", None, None),
                               spec_revision=ordered.spec_revision)
    recent = drawn_design(store, worker, "silver bangle")
    for design in (abandoned, ordered):
        age(store, design.id, 45)
    doomed, kept = files_of(settings, store, abandoned.id), files_of(settings, store, ordered.id)
    assert len(doomed) == 3 and all(p.is_file() for p in doomed + kept)

    pruned = retention.prune(store, settings.images_dir, settings.uploads_dir, POLICY)

    assert pruned.designs == [abandoned.id] and pruned.bytes_freed >= sum(1 for _ in doomed)
    assert store.query_one("SELECT 1 FROM designs WHERE id = ?", (abandoned.id,)) is None
    assert store.query("SELECT id FROM jobs WHERE design_id = ?", (abandoned.id,)) == []
    assert store.query("SELECT id FROM images WHERE design_id = ?", (abandoned.id,)) == []
    assert not any(p.exists() for p in doomed)
    assert not (settings.images_dir / abandoned.id).exists() and not (settings.uploads_dir / abandoned.id).exists()
    assert all(p.is_file() for p in kept)                       # the order's design, untouched
    assert orders.get_order(store, token=order["token"])["current"]["image_id"] == image.id
    assert designs.get_design(store, recent.id).id == recent.id  # young designs stay
    assert retention.prune(store, settings.images_dir, settings.uploads_dir, POLICY).designs == []


def test_a_design_waiting_for_a_round_or_kept_forever_is_not_removed(settings, store, worker):
    waiting = drawn_design(store, worker)
    age(store, waiting.id, 90)
    jobs.enqueue(store, waiting.id)                              # the customer came back
    assert retention.prune(store, settings.images_dir, settings.uploads_dir, POLICY).designs == []
    forever = retention.Policy(keep_unordered_days=0, keep_failed_jobs_days=0)
    idle = drawn_design(store, worker, "yellow gold hoops")
    age(store, idle.id, 4000)
    assert retention.prune(store, settings.images_dir, settings.uploads_dir, forever).designs == []
    assert designs.get_design(store, idle.id)


def test_failed_and_cancelled_rounds_go_after_their_days_and_drawn_ones_stay(settings, store, worker):
    design = drawn_design(store, worker)
    cancelled = jobs.enqueue(store, design.id)
    jobs.cancel(store, cancelled.id)
    fresh = jobs.enqueue(store, design.id)
    jobs.cancel(store, fresh.id)
    old = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()
    with store.write() as db:
        db.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (old, cancelled.id))
    pruned = retention.prune(store, settings.images_dir, settings.uploads_dir, POLICY)
    assert pruned.jobs == 1 and pruned.designs == []
    remaining = {r["id"] for r in store.query("SELECT id FROM jobs WHERE design_id = ?", (design.id,))}
    assert cancelled.id not in remaining and fresh.id in remaining and len(remaining) == 2


def test_an_ended_rounds_preview_is_dropped_and_no_longer_served(settings, store, worker):
    design = designs.create_design(store, "14k yellow gold ring")
    job = jobs.enqueue(store, design.id)
    claimed = jobs.claim_next(store, worker.id)
    # What SDXL does mid-round: a preview, written by the round's reporter thread.
    reporter = ProgressReporter(store, settings.images_dir, claimed.id, every=0)
    reporter.update(0.5, Image.new("RGB", (64, 64), (90, 90, 90)))
    for _ in range(500):
        if jobs.get_job(store, job.id).preview_path:
            break
        time.sleep(0.01)
    reporter.close()
    preview = settings.images_dir / "previews" / f"{job.id}.jpg"
    customer_app, _ = cli.build_apps(settings, store)
    from fastapi.testclient import TestClient
    with TestClient(customer_app) as client:
        assert preview.is_file() and client.get(f"/jobs/{job.id}/preview.jpg").status_code == 200
        jobs.finish(store, job.id, "done")
        assert jobs.get_job(store, job.id).preview_path is None
        assert client.get(f"/jobs/{job.id}/preview.jpg").status_code == 404
    retention.drop_preview(store, settings.images_dir, job.id)
    assert not preview.exists()


def test_a_sweep_takes_leftover_previews_and_stray_files_but_not_young_ones(settings, store, worker):
    design = drawn_design(store, worker)
    folder = settings.images_dir / design.id
    stray, young = folder / "left-by-a-crash.png", folder / ".being-written.png.part"
    leftover = settings.images_dir / "previews" / "gone-job.jpg"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    for path in (stray, young, leftover):
        path.write_bytes(b"x" * 100)
    hour_ago = time.time() - 2 * 3600
    os.utime(stray, (hour_ago, hour_ago))
    os.utime(leftover, (hour_ago, hour_ago))
    pruned = retention.prune(store, settings.images_dir, settings.uploads_dir, POLICY)
    assert pruned.stray_files == 1 and pruned.previews == 1
    assert not stray.exists() and not leftover.exists() and young.exists()
    assert all(p.is_file() for p in files_of(settings, store, design.id))


def test_the_idle_worker_prunes_hourly(settings, store):
    worker = cli.build_worker(settings, store)
    worker.start_up()
    abandoned = drawn_design(store, worker)
    age(store, abandoned.id, 31)
    assert worker.retention == retention.Policy(settings.keep_unordered_days, settings.keep_failed_jobs_days)
    worker._last_prune = time.monotonic()            # swept a moment ago: not yet again
    assert not worker.run_once() and designs.get_design(store, abandoned.id)
    worker._last_prune -= worker.prune_every_seconds  # an hour later
    assert not worker.run_once()
    assert store.query_one("SELECT 1 FROM designs WHERE id = ?", (abandoned.id,)) is None


def test_backups_leave_previews_out(settings, store, worker):
    drawn_design(store, worker)
    preview = settings.images_dir / "previews" / "running.jpg"
    preview.parent.mkdir(parents=True, exist_ok=True)
    preview.write_bytes(b"jpeg")
    result = backups.create_backup(settings)
    with tarfile.open(result.path) as archive:
        names = archive.getnames()
    assert any(n.startswith("images/") and n.endswith(".png") for n in names)
    assert not any("previews" in n for n in names)


def test_the_cli_prunes_and_says_what_it_kept(settings, store, worker):
    abandoned = drawn_design(store, worker)
    age(store, abandoned.id, 40)
    out = subprocess.run([DIAMRA, "--data", str(settings.data_dir), "prune"], capture_output=True, text=True,
                         env={**os.environ, "DIAMRA_CONFIG": ""})
    assert out.returncode == 0, out.stderr
    assert "1 unordered designs" in out.stdout and "kept 30 days" in out.stdout and "never removed" in out.stdout


def test_retention_settings_must_be_days(tmp_path):
    assert load_settings(tmp_path, keep_unordered_days=0).keep_unordered_days == 0
    with pytest.raises(SettingsError, match="keep_unordered_days"):
        load_settings(tmp_path, keep_unordered_days=-1)


def test_sent_mails_go_after_ninety_days_and_unsent_ones_stay(settings, store):
    old = (datetime.now(timezone.utc) - timedelta(days=91)).isoformat()
    with store.write() as db:
        for status, sent_at in (("sent", old), ("sent", datetime.now(timezone.utc).isoformat()), ("failed", None)):
            db.execute("INSERT INTO outbox (kind, to_address, subject, text_body, html_body, status, next_attempt_at,"
                       " created_at, sent_at) VALUES ('x', 'a@example.com', 's', 't', 'h', ?, ?, ?, ?)",
                       (status, old, old, sent_at))
    assert retention.prune(store, settings.images_dir, settings.uploads_dir, POLICY).mails == 1
    assert sorted(r["status"] for r in store.query("SELECT status FROM outbox")) == ["failed", "sent"]
