"""Generations per minute with one GPU worker and with two, fed through Celery and Redis.

Real processes as a store runs them (tests.fleet.harness): redis-server on a loopback
port, the shop as `diamra serve` with dispatcher = "celery", and each worker as its own
`diamra worker --dispatcher celery`. The workers draw with the sketch renderer standing
in for a GPU's drawing time (sketch_ms_per_image), so the figure is the dispatch's own:
how much of a second card's time reaches customers. Target (issue 16): two workers at
least 1.7x one.

    python bench/fleet.py [--rounds 16] [--images 2] [--ms-per-image 400]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet.harness import Redis, Shop, Worker


def run(workers: int, rounds: int, images: int, ms_per_image: int) -> tuple[float, dict]:
    folder = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    redis = Redis(folder / "redis").start()
    shop = Shop(folder, redis).start()
    started = []
    try:
        for n in range(workers):
            started.append(Worker(shop, f"gpu-{n + 1}", ms_per_image).start())
        shop.wait_all(shop.enqueue(1, images), timeout=60)          # every worker warm, the path exercised
        ids = shop.enqueue(rounds, images)
        began = time.perf_counter()
        done = shop.wait_all(ids, timeout=600)
        seconds = time.perf_counter() - began
        assert all(job.status == "done" for job in done), [job.status for job in done]
        shares = {}
        for job in done:
            shares[job.worker_id] = shares.get(job.worker_id, 0) + 1
        return seconds, shares
    finally:
        for worker in started:
            worker.stop()
        shop.stop()
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--ms-per-image", type=int, default=400, help="the stand-in GPU's drawing time per image")
    args = parser.parse_args()
    print(f"{args.rounds} rounds of {args.images} images, {args.ms_per_image} ms of drawing per image")
    per_minute = {}
    for workers in (1, 2):
        seconds, shares = run(workers, args.rounds, args.images, args.ms_per_image)
        per_minute[workers] = args.rounds * args.images * 60 / seconds
        ideal = args.rounds * args.images * args.ms_per_image / 1000 / workers
        print(f"{workers} worker{'s' if workers > 1 else ''}: {seconds:.1f} s ({per_minute[workers]:.0f} images a "
              f"minute; drawing alone would take {ideal:.1f} s); rounds per worker {shares}")
    print(f"two workers / one: {per_minute[2] / per_minute[1]:.2f}x (target at least 1.7x)")


if __name__ == "__main__":
    main()
