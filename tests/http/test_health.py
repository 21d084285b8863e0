"""/healthz on both apps, `diamra status`, and the staff dashboard's banners."""

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.ops.backups import create_backup

DIAMRA = str(Path(sys.executable).parent / "diamra")


def test_without_a_worker_the_appliance_is_unhealthy(customer, staff, staff_session):
    for client in (customer, staff):
        response = client.get("http://testserver/healthz")
        assert response.status_code == 503 and response.json() == {"ok": False}   # no detail in public
    client, _ = staff_session
    detail = client.get("/api/v1/health")
    body = detail.json()
    assert detail.status_code == 503 and body["ok"] is False and "No generation worker has started." in body["problems"]
    assert body["database"] == "writable" and body["queue"] == 0 and body["disk_free_bytes"] > 0


def test_the_detail_needs_a_staff_login(staff):
    assert staff.get("/api/v1/health").status_code == 401


def test_with_a_worker_it_is_healthy_and_says_what_it_draws_with(customer, running_worker, settings, staff_session):
    assert customer.get("http://testserver/healthz").status_code == 200 and customer.get("http://testserver/healthz").json() == {"ok": True}
    client, _ = staff_session
    body = client.get("/api/v1/health").json()
    assert body["worker"]["generator"] == "sketch" and body["worker"]["heartbeat_age_s"] < 30
    assert any("sketch previews" in w for w in body["warnings"])
    assert "No backup has been made yet." in body["warnings"]
    create_backup(settings)
    after = client.get("/api/v1/health").json()
    assert after["last_backup"]["files"] >= 1 and "No backup has been made yet." not in after["warnings"]


def test_public_health_is_rate_limited_and_takes_no_write_lock(settings, store, monkeypatch):
    from fastapi.testclient import TestClient

    from appliance import cli
    from appliance.config import load_settings
    limited = load_settings(settings.data_dir, generator="sketch", rate_limit_per_minute=5)
    app, _ = cli.build_apps(limited, store)
    writes = []
    real = store.write
    monkeypatch.setattr(store, "write", lambda *a, **k: writes.append(1) or real(*a, **k))
    with TestClient(app) as client:
        codes = [client.get("http://testserver/healthz").status_code for _ in range(8)]
    assert codes[:5] == [503] * 5 and codes[-1] == 429                   # no worker here: not ok, but answered
    assert writes == []


def test_a_stale_backup_and_a_silent_worker_show_on_the_dashboard(staff_session, running_worker, settings, store):
    client, _ = staff_session
    create_backup(settings)
    record = settings.backups_dir / "last-good.json"
    old = json.loads(record.read_text())
    old["at"] = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat(timespec="seconds")
    record.write_text(json.dumps(old))
    page = client.get("/").text
    assert "The last good backup is 3 days old." in page and "sketch previews" in page
    running_worker.stop()
    with store.write() as db:
        db.execute("UPDATE workers SET heartbeat_at = ?",
                   ((datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat(),))
    assert "has not reported for 10 min" in client.get("/").text
    assert client.get("http://testserver/healthz").status_code == 503


def test_status_says_it_in_words(settings, store, running_worker):
    result = subprocess.run([DIAMRA, "--data", str(settings.data_dir), "status"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "healthy" in result.stdout and "worker: sketch generator" in result.stdout
    assert "last good backup: none yet" in result.stdout
