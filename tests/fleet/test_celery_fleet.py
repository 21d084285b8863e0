"""Several GPU workers fed through Celery and Redis: each a real `celery worker` process
drawing with the sketch renderer, the shop a real `diamra serve`, Redis a real
redis-server. The shop's SQLite stays the record throughout."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx

from appliance.studio import jobs
from tests.fleet.harness import DIAMRA


def images_of(shop, job_id: str) -> list[dict]:
    return jobs.images_of(shop.store, job_id)


def files_on_disk(shop, job) -> int:
    folder = shop.data / "images" / job.design_id
    return len(list(folder.glob("*.png"))) if folder.exists() else 0


def test_a_burst_is_spread_over_both_workers_and_every_round_is_stored_once(fleet_shop):
    fleet_shop.worker("gpu-1")
    fleet_shop.worker("gpu-2")
    ids = fleet_shop.enqueue(10, images=2)
    done = fleet_shop.wait_all(ids)
    assert [job.status for job in done] == ["done"] * 10
    by_worker = Counter(job.worker_id for job in done)
    assert set(by_worker) == {"gpu-1", "gpu-2"} and min(by_worker.values()) >= 3, by_worker
    for job in done:
        rows = images_of(fleet_shop, job.id)
        assert len(rows) == 2 and files_on_disk(fleet_shop, job) == 2
        assert all((fleet_shop.data / "images" / row["path"]).stat().st_size > 0 for row in rows)
        assert job.attempts == 1
    # The dashboard's facts: each worker's jobs done, as the shop counted them.
    workers = {row["id"]: row for row in fleet_shop.store.query("SELECT * FROM workers WHERE kind = 'remote'")}
    assert workers["gpu-1"]["jobs_done"] + workers["gpu-2"]["jobs_done"] == 10
    assert workers["gpu-1"]["generator"] == "sketch" and workers["gpu-1"]["box"]


def test_a_worker_killed_mid_job_leaves_its_job_to_the_other_and_its_images_are_stored_once(fleet_shop):
    first = fleet_shop.worker("gpu-1", ms_per_image=600)
    fleet_shop.worker("gpu-2", ms_per_image=600)
    ids = fleet_shop.enqueue(4, images=2)
    victim = fleet_shop.wait_for(
        lambda: next((job for job in map(fleet_shop.job, ids)
                      if job.status == "running" and job.worker_id == "gpu-1" and job.progress > 0), None),
        what="gpu-1 drawing a job")
    first.kill()
    done = fleet_shop.wait_all(ids, timeout=60)
    assert [job.status for job in done] == ["done"] * 4
    redrawn = fleet_shop.job(victim.id)
    assert redrawn.worker_id == "gpu-2" and redrawn.attempts == 2
    assert len(images_of(fleet_shop, victim.id)) == 2 and files_on_disk(fleet_shop, redrawn) == 2
    assert "fell silent; requeued" in fleet_shop.tail(200)


def test_redis_restarted_empty_mid_burst_loses_nothing(fleet_shop):
    fleet_shop.worker("gpu-1", ms_per_image=150)
    fleet_shop.worker("gpu-2", ms_per_image=150)
    ids = fleet_shop.enqueue(8, images=2)
    fleet_shop.wait_for(lambda: sum(not fleet_shop.job(i).open for i in ids) >= 2, what="two rounds done")
    fleet_shop.redis.restart()            # without saving: the waiting messages are gone
    done = fleet_shop.wait_all(ids, timeout=90)
    assert [job.status for job in done] == ["done"] * 8
    assert all(len(images_of(fleet_shop, job.id)) == 2 for job in done)
    assert "the broker restarted" in fleet_shop.tail(300)


def test_a_cancel_reaches_the_remote_worker_between_steps(fleet_shop):
    fleet_shop.worker("gpu-1", ms_per_image=1500)
    [job_id] = fleet_shop.enqueue(1, images=4)          # six seconds of drawing
    fleet_shop.wait_for(lambda: fleet_shop.job(job_id).progress > 0.05, what="the round to be under way")
    asked = time.monotonic()
    jobs.cancel(fleet_shop.store, job_id)
    [job] = fleet_shop.wait_all([job_id], timeout=20)
    assert job.status == "cancelled" and images_of(fleet_shop, job_id) == []
    assert time.monotonic() - asked < 3, "the worker went on drawing after the cancel"
    # A job cancelled while still waiting is never drawn.
    fleet_shop.worker("gpu-2", ms_per_image=1500)
    busy = fleet_shop.enqueue(2, images=4)
    [waiting] = fleet_shop.enqueue(1, images=1)
    jobs.cancel(fleet_shop.store, waiting)
    fleet_shop.wait_all(busy, timeout=40)
    assert fleet_shop.job(waiting).status == "cancelled" and fleet_shop.job(waiting).attempts == 0


def test_a_worker_with_a_wrong_token_is_refused(fleet_shop, tmp_path):
    wrong = tmp_path / "wrong.token"
    wrong.write_text("dmw_not-a-token-of-this-shop\n")
    answer = httpx.post(f"{fleet_shop.url}/staff/internal/fleet/heartbeat", json={"generator": "sketch"},
                        headers={"Authorization": "Bearer dmw_not-a-token-of-this-shop"})
    assert answer.status_code == 401 and "Authorization" in answer.json()["detail"]
    assert httpx.post(f"{fleet_shop.url}/staff/internal/fleet/heartbeat", json={}).status_code == 401
    run = subprocess.run([*DIAMRA, "--data", str(tmp_path / "w"), "worker", "--dispatcher", "celery", "--shop",
                          fleet_shop.url, "--token-file", str(wrong), "--generator", "sketch"],
                         env=fleet_shop.env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "The shop refused this worker" in run.stderr
    missing = subprocess.run([*DIAMRA, "--data", str(tmp_path / "w"), "worker", "--dispatcher", "celery", "--shop",
                              fleet_shop.url, "--token-file", str(tmp_path / "absent"), "--generator", "sketch"],
                             env=fleet_shop.env, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "Cannot read the worker token file" in missing.stderr
    assert not Path(tmp_path / "w" / "diamra.db").exists()      # a worker box keeps no database


def test_a_removed_worker_stops_and_takes_no_job_with_it(fleet_shop):
    from appliance.studio import fleet
    removed = fleet_shop.worker("gpu-1", ms_per_image=100)
    fleet_shop.worker("gpu-2", ms_per_image=100)
    fleet.remove_worker(fleet_shop.store, "gpu-1")
    ids = fleet_shop.enqueue(6, images=1)
    done = fleet_shop.wait_all(ids, timeout=60)
    assert [job.status for job in done] == ["done"] * 6
    assert {job.worker_id for job in done} == {"gpu-2"}
    assert removed.process.wait(30) == 0              # a warm shutdown; systemd leaves it stopped
    assert "refused its token" in removed.log.read_text()
