"""The shop's dispatcher against a real Redis: what it sends, in which order, and what it
sends again."""

from __future__ import annotations

import json
import time

import pytest
import redis as redis_client

from appliance.storage.migrations import migrate
from appliance.storage.store import Store
from appliance.studio import designs, dispatch, fleet, jobs
from tests.fleet.harness import Redis


@pytest.fixture
def broker(tmp_path):
    server = Redis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def shop_store(tmp_path):
    migrate(tmp_path / "diamra.db", tmp_path / "backups")
    store = Store(tmp_path / "diamra.db")
    yield store
    store.close()


def messages(broker) -> list[str]:
    """The job ids of the messages waiting in the queue, oldest first."""
    client = redis_client.Redis.from_url(broker.url)
    bodies = [json.loads(raw) for raw in reversed(client.lrange(dispatch.QUEUE, 0, -1))]
    return [body["headers"]["argsrepr"].strip("[]'\"") for body in bodies]


def enqueue(store, n: int) -> list[str]:
    ids = []
    for i in range(n):
        design = designs.create_design(store, f"platinum band with channel-set diamonds, no. {i}")
        ids.append(jobs.enqueue(store, design.id, count=1).id)
    return ids


def test_it_sends_one_job_per_free_worker_plus_one_in_the_queues_order(broker, shop_store):
    ids = enqueue(shop_store, 5)
    sender = dispatch.Dispatch(shop_store, broker.url, silent_seconds=30, max_attempts=2)
    assert sender.send() == 1                     # no worker yet: one waits in Redis, the rest in the shop
    for name in ("gpu-1", "gpu-2"):
        fleet.add_worker(shop_store, name, by="test")
        fleet.heartbeat(shop_store, name, {"generator": "sketch"})
    assert sender.send() == 2                     # two free workers, one already waiting
    assert messages(broker) == ids[:3]
    assert sender.send() == 0
    # A customer's place in line counts what was sent first.
    assert [jobs.position(shop_store, jobs.get_job(shop_store, i)) for i in ids] == [0, 1, 2, 3, 4]
    # gpu-1 takes the first; two are waiting for one free worker: nothing more is sent.
    fleet.claim(shop_store, "gpu-1", ids[0])
    assert sender.send() == 0
    assert [jobs.get_job(shop_store, i).dispatched_at is not None for i in ids] == [False, True, True, False, False]


def test_what_redis_lost_is_sent_again(broker, shop_store):
    ids = enqueue(shop_store, 2)
    sender = dispatch.Dispatch(shop_store, broker.url, silent_seconds=30, max_attempts=2)
    sender.watch_broker()
    fleet.add_worker(shop_store, "gpu-1", by="test")
    fleet.heartbeat(shop_store, "gpu-1", {"generator": "sketch"})
    assert sender.send() == 2 and messages(broker) == ids
    broker.restart()                              # empty: the two messages are gone
    assert messages(broker) == []
    sender.watch_broker()
    assert sender.send() == 2 and messages(broker) == ids


def test_a_broker_that_is_down_leaves_the_jobs_in_the_shop(broker, shop_store):
    ids = enqueue(shop_store, 1)
    broker.stop()
    sender = dispatch.Dispatch(shop_store, broker.url, silent_seconds=30, max_attempts=2)
    assert sender.send() == 0 and not sender.broker_ok
    assert jobs.get_job(shop_store, ids[0]).dispatched_at is None
    broker.start()
    assert sender.send() == 1 and sender.broker_ok


def test_a_silent_workers_job_is_requeued_then_failed_after_its_attempts(shop_store):
    [job_id] = enqueue(shop_store, 1)
    fleet.add_worker(shop_store, "gpu-1", by="test")
    for attempt in (1, 2):
        fleet.claim(shop_store, "gpu-1", job_id)
        with shop_store.write() as db:
            db.execute("UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00+00:00' WHERE id = :id", {"id": job_id})
        requeued, failed = fleet.sweep(shop_store, silent_seconds=30, max_attempts=2)
        assert (requeued, failed) == (([job_id], []) if attempt == 1 else ([], [job_id]))
    job = jobs.get_job(shop_store, job_id)
    assert job.status == "failed" and "2 times" in job.error


def test_the_broker_address_is_logged_without_its_password():
    assert dispatch._redacted("redis://:secret@10.0.0.2:6379/0") == "redis://***@10.0.0.2:6379/0"


def test_the_shop_keeps_its_retention_sweep_without_a_worker_of_its_own(broker, shop_store):
    swept = []
    sender = dispatch.Dispatch(shop_store, broker.url, silent_seconds=30, max_attempts=2,
                               housekeeping=lambda: swept.append(1), housekeeping_every_seconds=0.3)
    sender.tick()
    assert swept == []                     # not on the start's path
    time.sleep(0.35)
    sender.tick()
    sender.tick()
    assert swept == [1]
