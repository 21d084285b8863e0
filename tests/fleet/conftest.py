"""A real Redis, a real shop and real Celery workers (tests.fleet.harness)."""

from __future__ import annotations

import pytest

from tests.fleet.harness import Redis, Shop, Worker


@pytest.fixture
def fleet_shop(tmp_path):
    redis = Redis(tmp_path / "redis").start()
    shop = Shop(tmp_path, redis).start()
    started: list[Worker] = []

    def worker(name: str, ms_per_image: int = 200) -> Worker:
        started.append(Worker(shop, name, ms_per_image).start())
        return started[-1]

    shop.worker = worker
    yield shop
    for one in started:
        one.stop()
    shop.stop()
    redis.stop()
