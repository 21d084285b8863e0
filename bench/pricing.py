"""Quote engine figures: quotes per second over 10,000 varied specs, and the live price
update through HTTP (the materials panel's round trip) as a customer sees it.
Target: p99 of one live update under 20 ms on this machine's two cores.

Run: .venv/bin/python bench/pricing.py
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from appliance import cli  # noqa: E402
from appliance.config import load_settings  # noqa: E402
from appliance.jewelry import catalog  # noqa: E402
from appliance.jewelry.price_book import DEFAULT_PRICE_BOOK, validate_price_book  # noqa: E402
from appliance.jewelry.pricing import quote  # noqa: E402
from appliance.jewelry.specs import Spec  # noqa: E402
from tests.live import LiveServer  # noqa: E402


def varied_specs(n: int, seed: int = 7) -> list[Spec]:
    rng = random.Random(seed)
    specs = []
    for _ in range(n):
        piece = rng.choice(list(catalog.PIECE_TYPES))
        stones = []
        for role in rng.sample(["center", "side", "accent"], rng.randint(0, 3)):
            stone = rng.choice(list(catalog.STONE_TYPES))
            shape = "round" if stone == "pearl" or role == "accent" else rng.choice(list(catalog.SHAPES))
            mm = rng.uniform(1, 3) if role == "accent" else rng.uniform(3, 11)
            stones.append({"role": role, "type": stone, "shape": shape, "length_mm": round(mm * 1.3, 2),
                           "width_mm": round(mm, 2) if shape != "round" else round(mm * 1.3, 2),
                           "count": rng.randint(6, 40) if role == "accent" else (2 if role == "side" else 1),
                           "setting": rng.choice(["prong", "bezel"]) if role != "accent" else "pave"})
        specs.append(Spec(piece_type=piece, metal=rng.choice(list(catalog.METALS)), ring_size=rng.uniform(3, 13),
                          band_width_mm=rng.uniform(1.5, 8), band_thickness_mm=rng.uniform(1, 2.5),
                          finish=rng.choice(list(catalog.FINISHES)), stones=stones))
    return specs


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    book = validate_price_book(DEFAULT_PRICE_BOOK)
    specs = varied_specs(10_000)
    start = time.perf_counter()
    for spec in specs:
        quote(spec, book)
    elapsed = time.perf_counter() - start
    print(f"quotes: 10,000 varied specs in {elapsed:.2f} s = {10_000 / elapsed:,.0f} quotes per second")

    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(Path(folder), generator="sketch", rate_limit_per_minute=1_000_000)
        store = cli.open_appliance(settings)
        customer_app, _ = cli.build_apps(settings, store)
        with LiveServer(customer_app) as server, httpx.Client(base_url=server.url) as client:
            design = client.post("/api/v1/designs", json={
                "description": "14k rose gold halo ring with a 1.5 carat oval lab diamond, tiny diamonds on the band, size 6"}).json()
            form = {"piece_type": "ring", "size_system": "us", "ring_size": "6", "stones-0-role": "center",
                    "stones-0-type": "lab_diamond", "stones-0-shape": "oval", "stones-0-length_mm": "9.2",
                    "stones-0-width_mm": "6.5", "stones-0-count": "1", "stones-0-setting": "prong",
                    "stones-1-role": "accent", "stones-1-type": "diamond", "stones-1-shape": "round",
                    "stones-1-length_mm": "1.3", "stones-1-width_mm": "1.3", "stones-1-count": "18",
                    "stones-1-setting": "halo"}
            latencies = []
            for i in range(500):
                form["metal"] = ("14k_rose", "platinum", "18k_yellow", "sterling")[i % 4]
                form["ring_size"] = str(5 + (i % 8) * 0.5)
                started = time.perf_counter()
                response = client.post(f"/d/{design['id']}/spec", data=form, headers={"HX-Request": "true"})
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200 and "quote-total" in response.text
        store.close()
    print(f"live price update over HTTP (500 edits): median {statistics.median(latencies):.1f} ms, "
          f"p99 {percentile(latencies, 99):.1f} ms (target < 20 ms)")


if __name__ == "__main__":
    main()
