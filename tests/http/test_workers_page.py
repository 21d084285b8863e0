"""The staff Workers page and its JSON twin over HTTP, and `diamra status`'s lines on the
GPU workers: each remote worker with its box, card, generator and jobs done and what it
is doing now (drawing a job with its progress, free, or not answering once silent past
worker_silent_seconds, said in words), a worker added but never connected, the queue in
the order it will be served and the jobs being drawn by their worker, any staff member
may read it, and nobody signed out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appliance import cli
from appliance.config import load_settings
from appliance.ops import auth, fleet_status
from appliance.studio import designs, fleet, jobs
from tests.conftest import STAFF_PASSWORD

DIAMRA = str(Path(sys.executable).parent / "diamra")
FACTS = {"generator": "sdxl", "box": "box-2", "gpu": "NVIDIA RTX 4090", "model": "SDXL base"}


def design(store, words: str) -> str:
    return designs.create_design(store, words).id


def quiet(store, name: str, minutes: int) -> None:
    """The worker last reported `minutes` ago (its box was unplugged)."""
    with store.write() as db:
        db.execute("UPDATE workers SET heartbeat_at = ? WHERE id = ?",
                   ((datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat(), name))


def seed_fleet(store, settings) -> dict:
    """gpu-1 on box-2 (one round ended, now drawing a second at 47%), gpu-3 silent for 10
    minutes, gpu-2 added but never connected, and three rounds waiting: ring's second
    round (queued first, but its design was served already), then pendant's and brooch's.
    No worker of the shop's own may be running (it would draw the rounds)."""
    for name in ("gpu-1", "gpu-2", "gpu-3"):
        fleet.add_worker(store, name, by="test")
    fleet.heartbeat(store, "gpu-1", FACTS)
    fleet.heartbeat(store, "gpu-3", {**FACTS, "box": "box-3", "gpu": "NVIDIA L4"})
    ring = design(store, "14k rose gold ring with an oval lab diamond")
    first = jobs.enqueue(store, ring, count=2)
    sent = fleet.claim(store, "gpu-1", first.id)
    assert fleet.finish(store, settings.images_dir, "gpu-1", first.id, sent.attempt, status="failed",
                        generator="sdxl", error="out of memory") == "failed"
    ring_again = jobs.enqueue(store, ring, count=4).id
    pendant = jobs.enqueue(store, design(store, "platinum pendant with a sapphire"), count=2).id
    brooch = jobs.enqueue(store, design(store, "yellow gold brooch with pearls"), count=1).id
    drawing = jobs.enqueue(store, design(store, "white gold hoop earrings"), count=3).id
    attempt = fleet.claim(store, "gpu-1", drawing).attempt
    fleet.progress(store, settings.images_dir, "gpu-1", drawing, attempt, 0.5)
    quiet(store, "gpu-3", 10)
    return {"waiting": [pendant, brooch, ring_again], "drawing": drawing, "ring": ring}


@pytest.fixture
def shop(store, settings):
    return seed_fleet(store, settings)


def state(page: str, name: str) -> str:
    found = re.search(rf'id="worker-{name}-state">(.*?)</p>', page, re.S)
    assert found, f"no state for {name}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_page_lists_each_worker_with_its_box_card_and_what_it_is_doing(staff_session, shop):
    client, _ = staff_session
    answer = client.get("/workers")
    assert answer.status_code == 200
    page = answer.text
    assert '<a href="/staff/workers">Workers</a>' in page                          # in the staff nav
    gpu1 = page[page.index('id="worker-gpu-1"'):page.index('id="worker-gpu-1-done"') + 40]
    assert "on box-2" in gpu1 and "NVIDIA RTX 4090" in gpu1 and "sdxl · SDXL base" in gpu1
    assert state(page, "gpu-1") == f"Drawing job {shop['drawing'][:6]}: 47%"
    assert re.search(r'id="worker-gpu-1-heard">\d s ago<', page)
    assert 'id="worker-gpu-1-done">1<' in page                                     # the failed round counts
    # Silent past worker_silent_seconds: said in words, not by colour alone.
    assert state(page, "gpu-3") == "! Not answering: silent for 10 min"
    assert 'class="worker worker-silent" id="worker-gpu-3"' in page and "Silent for longer than 30 s" in page
    assert state(page, "gpu-2") == "Added, never connected"
    # It polls its own fragment, which is the same live part alone.
    assert 'hx-get="/staff/workers/live" hx-trigger="every 3s" hx-swap="outerHTML"' in page
    live = client.get("/workers/live")
    assert live.status_code == 200 and "<html" not in live.text
    assert 'id="workers-live"' in live.text and 'id="worker-gpu-1"' in live.text
    # No inline script or style anywhere (the CSP forbids them).
    assert not re.search(r"<script(?![^>]*\bsrc=)|\sstyle=|<style", page)


def test_the_queue_shows_waiting_rounds_in_serving_order_and_the_round_being_drawn(staff_session, shop, store):
    client, _ = staff_session
    page = client.get("/workers").text
    rows = re.findall(r'<tr id="waiting-([A-Za-z0-9_-]{6})">\s*<td class="nowrap">([^<]+)</td>', page)
    assert rows == [(shop["waiting"][0][:6], "1 (next)"), (shop["waiting"][1][:6], "2"),
                    (shop["waiting"][2][:6], "3")]
    assert [jobs.position(store, jobs.get_job(store, job_id)) for job_id in shop["waiting"]] == [0, 1, 2]
    waiting = page[page.index(f'id="waiting-{shop["waiting"][2][:6]}"'):]
    ring = shop["ring"][:6]
    assert re.search(rf"design <code>{ring}</code> · 4 images</span></td>\s*<td>\d+ s<span class=\"queue-detail\">"
                     r"since <time datetime=", waiting)                              # images, waiting since
    start = page.index(f'id="running-{shop["drawing"][:6]}"')
    running = page[start:page.index("</tr>", start)]
    assert '<td class="queue-worker">gpu-1</td>' in running and "47%" in running
    assert 'id="queue-summary">3 waiting, 1 being drawn.' in page


def test_the_json_twin_answers_the_same_facts(staff_session, shop):
    client, _ = staff_session
    body = client.get("/api/v1/workers").json()
    assert body["dispatcher"] == "sqlite" and body["registered"] == 3 and body["answering"] == 1
    by_name = {w["name"]: w for w in body["workers"]}
    assert set(by_name) == {"gpu-1", "gpu-3"}
    assert by_name["gpu-1"] | {"heartbeat_at": None, "started_at": None, "silent_seconds": 0} == {
        "name": "gpu-1", "kind": "remote", "box": "box-2", "gpu": "NVIDIA RTX 4090", "generator": "sdxl",
        "model": "SDXL base", "jobs_done": 1, "started_at": None, "heartbeat_at": None, "silent_seconds": 0,
        "limit_seconds": 30, "state": "drawing", "job": shop["drawing"][:6], "progress": 47,
        "doing": f"Drawing job {shop['drawing'][:6]}: 47%", "silent": False}
    assert by_name["gpu-3"]["silent"] is True and by_name["gpu-3"]["silent_seconds"] >= 600
    assert [row["name"] for row in body["never_connected"]] == ["gpu-2"]
    queue = body["queue"]
    assert queue["length"] == 4
    assert [(w["position"], w["job"]) for w in queue["waiting"]] == [
        (i, job_id[:6]) for i, job_id in enumerate(shop["waiting"])]
    assert [(r["job"], r["worker"], r["progress"]) for r in queue["running"]] == [(shop["drawing"][:6], "gpu-1", 47)]
    # Ids are shown as the log shows them, never in full.
    assert shop["drawing"] not in str(body) and not any(job_id in str(body) for job_id in shop["waiting"])


def test_any_staff_member_may_read_it_and_nobody_signed_out(staff, store):
    assert staff.get("/workers", follow_redirects=False).status_code == 303
    assert staff.get("/workers", follow_redirects=False).headers["location"] == "/staff/login"
    assert staff.get("/workers/live", follow_redirects=False).status_code == 303
    assert staff.get("/api/v1/workers").status_code == 401
    auth.create_user(store, "maria", STAFF_PASSWORD, "jeweler")                   # not an admin
    assert staff.post("/api/v1/session", json={"username": "maria", "password": STAFF_PASSWORD}).status_code == 200
    assert staff.get("/workers").status_code == 200 and staff.get("/api/v1/workers").status_code == 200


def test_under_celery_the_page_counts_the_gpu_workers(settings, store, shop, jeweler):
    celery = load_settings(settings.data_dir, generator="sketch", dispatcher="celery",
                           broker_url="redis://127.0.0.1:6379/0")
    _, app = cli.build_apps(celery, store)
    with TestClient(app, base_url="http://testserver/staff") as client:
        client.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD})
        page = client.get("/workers").text
    assert "Celery through Redis: 3 GPU workers, 1 answering now." in page and 'id="remote-idle"' not in page


def test_with_only_this_box_s_worker_it_says_so(staff_session, running_worker, settings):
    client, _ = staff_session
    page = client.get("/workers").text
    assert "One box: the worker on this box takes jobs from the database." in page
    local = page[page.index(f'id="worker-{running_worker.id}"'):]
    assert local.index("Worker on this box") < local.index(f"<dt>Process</dt><dd><code>{running_worker.id}</code>")
    assert state(page, running_worker.id) == "Free" and "never connected" not in page


def test_the_serving_order_replays_the_queue_as_jobs_position_does(settings, store):
    """Two designs, one served before, two rounds each: the whole queue at once, in the
    order each job's own position says."""
    served = design(store, "platinum ring with a ruby")
    first = jobs.enqueue(store, served, count=1)
    assert jobs.claim_next(store, "w1").id == first.id
    queued = [jobs.enqueue(store, served, count=1, max_waiting=5).id for _ in range(2)]
    other = design(store, "rose gold pendant with a pearl")
    queued += [jobs.enqueue(store, other, count=1).id for _ in range(2)]
    order = [w.job for w in fleet_status.snapshot(settings, store).waiting]
    expected = sorted(queued, key=lambda job_id: jobs.position(store, jobs.get_job(store, job_id)))
    assert order == [job_id[:6] for job_id in expected]
    assert expected[0] == queued[2]                      # the design never served goes first


def run_status(settings, **env) -> str:
    result = subprocess.run([DIAMRA, "--data", str(settings.data_dir), "status"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, **env})
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.stdout


def test_status_lists_the_gpu_workers_and_the_queue(settings, shop):
    out = run_status(settings, DIAMRA_DISPATCHER="celery", DIAMRA_BROKER_URL="redis://127.0.0.1:6379/0")
    assert "  database: writable" in out and "  queue: 4 round(s) waiting or drawing" in out   # the lines kept
    assert "  dispatcher: Celery through Redis: 3 GPU workers, 1 answering" in out
    assert re.search(rf"  GPU worker gpu-1 on box-2, NVIDIA RTX 4090, sdxl generator: drawing job "
                     rf"{shop['drawing'][:6]} \(47%\), last heard \d s ago, 1 job done\n", out), out
    assert re.search(r"  GPU worker gpu-3 on box-3, NVIDIA L4, sdxl generator: NOT ANSWERING, silent for 10 min, "
                     r"last heard 10 min ago, 0 jobs done\n", out), out
    assert "  GPU worker gpu-2: added, never connected (added by test " in out
    assert "  queue length: 4 (3 waiting, 1 drawing)" in out


def test_status_without_gpu_workers_keeps_to_its_lines(settings, store):
    out = run_status(settings)
    assert "  queue: 0 round(s) waiting or drawing" in out
    assert "GPU worker" not in out and "dispatcher:" not in out
