"""Kiosks as the store runs them: `diamra kiosk add | list | revoke` on the console, the
pairing rules of appliance.studio.kiosks, and the kiosk settings."""

import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appliance import cli
from appliance.config import SettingsError, load_settings
from appliance.errors import Conflict, Invalid, NotFound
from appliance.studio import designs, kiosks

DIAMRA = str(Path(sys.executable).parent / "diamra")


def run(*args, data: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([DIAMRA, "--data", str(data), "kiosk", *args], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, **(env or {})})


def test_kiosk_add_prints_a_one_time_pairing_link_that_pairs_a_screen(tmp_path):
    added = run("add", "front-counter", data=tmp_path, env={"DIAMRA_PUBLIC_URL": "https://design.example.com/"})
    assert added.returncode == 0, added.stderr
    url = re.search(r"https://design\.example\.com/kiosk/pair/[A-Za-z0-9_-]{32}\b", added.stdout).group(0)
    assert "public_url" not in added.stderr
    local = run("add", "window", data=tmp_path)
    assert re.search(r"http://localhost:8080/kiosk/pair/\S+", local.stdout)
    assert "Phones need it" in local.stderr and "public_url is not set" in local.stderr and "QR" in local.stderr
    assert run("add", "front-counter", data=tmp_path).returncode == 2                     # one live kiosk per name

    listed = run("list", data=tmp_path)
    assert listed.returncode == 0
    assert re.search(r"front-counter\twaiting for pairing\tadded .* by console", listed.stdout)
    settings = load_settings(tmp_path, generator="sketch")
    store = cli.open_appliance(settings)
    try:
        app, _ = cli.build_apps(settings, store)
        with TestClient(app) as screen:
            path = url.removeprefix("https://design.example.com")
            assert screen.get(path).status_code == 200                                 # asks first
            assert screen.post("/kiosk/pair", data={"link": url}, follow_redirects=False).status_code == 303
            assert screen.get("/kiosk").status_code == 200
            assert "paired" in run("list", data=tmp_path).stdout
            revoked = run("revoke", "front-counter", data=tmp_path)
            assert revoked.returncode == 0 and "revoked" in revoked.stdout
            assert screen.get("/kiosk").status_code == 403                               # unpaired at once
        assert "front-counter\trevoked" in run("list", data=tmp_path).stdout
    finally:
        store.close()
    again = run("revoke", "front-counter", data=tmp_path)
    assert again.returncode == 2 and "No live kiosk" in again.stderr
    bad = run("add", "front counter", data=tmp_path)
    assert bad.returncode == 2 and "letters, digits" in bad.stderr


def test_a_pairing_token_is_spent_by_its_first_use(store):
    added = kiosks.add(store, "front-counter", actor="maria")
    kiosk, secret = kiosks.pair(store, added.pairing_token)
    assert kiosk.name == "front-counter" and kiosks.paired(store, secret) == kiosk
    with pytest.raises(Conflict, match="used already"):
        kiosks.pair(store, added.pairing_token)
    with pytest.raises(NotFound):
        kiosks.pair(store, added.pairing_token[:-1] + ("A" if added.pairing_token[-1] != "A" else "B"))
    assert kiosks.paired(store, None) is None and kiosks.paired(store, "") is None
    assert kiosks.paired(store, secret + "x") is None and kiosks.paired(store, "y" * 5000) is None


def test_a_name_can_be_used_again_once_its_kiosk_is_revoked(store):
    kiosks.add(store, "front-counter", actor="maria")
    with pytest.raises(Conflict):
        kiosks.add(store, "FRONT-COUNTER", actor="maria")
    kiosks.revoke(store, "Front-Counter", actor="maria")
    kiosks.add(store, "front-counter", actor="maria")
    states = [k["state"] for k in kiosks.listing(store)]
    assert states == ["waiting for pairing", "revoked"]
    for bad in ("", " ", "a b", "x" * 41, "-x", "kiosk=evil", "name\nINFO forged"):
        with pytest.raises(Invalid) as refused:
            kiosks.add(store, bad, actor="maria")
        assert refused.value.field == "name"


def test_starting_over_forgets_the_visit_s_designs_and_revoking_forgets_them_too(store):
    kiosk, _ = kiosks.pair(store, kiosks.add(store, "front-counter", actor="maria").pairing_token)
    design = designs.create_design(store, "platinum ring with a 1 carat ruby")
    kiosks.note_design(store, kiosk, design.id)
    kiosks.note_design(store, kiosk, design.id)                           # noted once
    assert [d["design_id"] for d in kiosks.visit_designs(store, kiosk)] == [design.id]
    new_visit = kiosks.start_over(store, kiosk)
    assert new_visit != kiosk.visit_id
    assert kiosks.visit_designs(store, kiosks.Kiosk(kiosk.id, kiosk.name, new_visit)) == []
    assert kiosks.visit_designs(store, kiosk) == []                       # the old visit's notes are gone too
    assert designs.get_design(store, design.id).id == design.id           # the design itself stays (its link works)


def test_kiosk_settings_default_and_are_checked(tmp_path, monkeypatch):
    settings = load_settings(tmp_path)
    assert settings.kiosk_idle_seconds == 120 and settings.kiosk_rate_limit_per_minute == 600
    monkeypatch.setenv("DIAMRA_KIOSK_IDLE_SECONDS", "45")
    assert load_settings(tmp_path).kiosk_idle_seconds == 45
    for bad in ("0", "2", "100000"):
        monkeypatch.setenv("DIAMRA_KIOSK_IDLE_SECONDS", bad)
        with pytest.raises(SettingsError, match="kiosk_idle_seconds"):
            load_settings(tmp_path)
    monkeypatch.setenv("DIAMRA_KIOSK_IDLE_SECONDS", "soon")
    with pytest.raises(SettingsError, match="kiosk_idle_seconds"):
        load_settings(tmp_path)
    monkeypatch.delenv("DIAMRA_KIOSK_IDLE_SECONDS")
    with pytest.raises(SettingsError, match="kiosk_rate_limit_per_minute"):
        load_settings(tmp_path, kiosk_rate_limit_per_minute=0)


def test_the_paired_kiosk_query_uses_the_secret_s_index(store):
    from appliance.storage import store as q
    plan = " ".join(str(row) for row in store.query("EXPLAIN QUERY PLAN " + q.PAIRED_KIOSK, {"secret_hash": "x"}))
    assert "USING INDEX" in plan and "SCAN" not in plan.replace("SCAN CONSTANT", "")



def test_opening_a_pairing_link_names_its_kiosk_and_spends_nothing(store):
    added = kiosks.add(store, "front-counter", actor="maria")
    assert kiosks.pairable(store, added.pairing_token) == "front-counter"
    assert kiosks.pairable(store, added.pairing_token) == "front-counter"      # a preview, then another
    kiosks.pair(store, added.pairing_token)
    with pytest.raises(Conflict, match="used already"):
        kiosks.pairable(store, added.pairing_token)
    with pytest.raises(NotFound):
        kiosks.pairable(store, "x" * 32)
    with pytest.raises(NotFound):
        kiosks.pairable(store, "short")


def _set_seen(store, kiosk, moment: datetime) -> None:
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE kiosks SET visit_seen_at = ? WHERE id = ?", (moment.isoformat(), kiosk.id))


def _seen_at(store, kiosk) -> str:
    with sqlite3.connect(store.path) as db:
        return db.execute("SELECT visit_seen_at FROM kiosks WHERE id = ?", (kiosk.id,)).fetchone()[0]


def test_a_kiosk_silent_longer_than_a_visit_gets_a_new_visit_before_its_next_request(store):
    kiosk, secret = kiosks.pair(store, kiosks.add(store, "front-counter", actor="maria").pairing_token)
    design = designs.create_design(store, "platinum ring with a 1 carat ruby")
    kiosks.note_design(store, kiosk, design.id)
    assert kiosks.seen(store, secret, forget_after=200) == kiosk                 # just paired: the same visit
    _set_seen(store, kiosk, datetime.now(timezone.utc) - timedelta(seconds=190))
    assert kiosks.seen(store, secret, forget_after=200) == kiosk                 # quiet, not gone
    assert [d["design_id"] for d in kiosks.visit_designs(store, kiosk)] == [design.id]

    _set_seen(store, kiosk, datetime.now(timezone.utc) - timedelta(seconds=201))
    later = kiosks.seen(store, secret, forget_after=200)
    assert later.id == kiosk.id and later.visit_id != kiosk.visit_id
    assert kiosks.paired(store, secret) == later                                 # kept, not just answered
    assert kiosks.visit_designs(store, kiosk) == [] and kiosks.visit_designs(store, later) == []
    again = kiosks.seen(store, secret, forget_after=200)
    assert again == later                                                        # the new visit holds
    kiosks.revoke(store, "front-counter", actor="maria")
    assert kiosks.seen(store, secret, forget_after=200) is None


def test_a_kiosk_s_requests_are_written_down_at_most_every_half_minute(store):
    kiosk, secret = kiosks.pair(store, kiosks.add(store, "front-counter", actor="maria").pairing_token)
    paired_at = _seen_at(store, kiosk)
    for _ in range(5):
        kiosks.seen(store, secret, forget_after=3600)
    assert _seen_at(store, kiosk) == paired_at                                   # no write per request
    _set_seen(store, kiosk, datetime.now(timezone.utc) - timedelta(seconds=kiosks.SEEN_EVERY_SECONDS + 1))
    before = datetime.now(timezone.utc)
    assert kiosks.seen(store, secret, forget_after=3600) == kiosk
    assert datetime.fromisoformat(_seen_at(store, kiosk)) >= before
    _set_seen(store, kiosk, datetime.now(timezone.utc) + timedelta(hours=2))     # the clock was set back
    kiosks.seen(store, secret, forget_after=3600)
    assert datetime.fromisoformat(_seen_at(store, kiosk)) <= datetime.now(timezone.utc)


def test_starting_over_writes_down_the_new_visit_s_start(store):
    kiosk, secret = kiosks.pair(store, kiosks.add(store, "front-counter", actor="maria").pairing_token)
    _set_seen(store, kiosk, datetime.now(timezone.utc) - timedelta(hours=1))
    visit = kiosks.start_over(store, kiosk)
    assert kiosks.seen(store, secret, forget_after=600).visit_id == visit        # not ended again at once
