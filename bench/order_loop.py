"""Figures for the embedded default: sketch render time, quote throughput, and the live
price update through a real HTTP server. Run: .venv/bin/python bench/order_loop.py"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from appliance import cli  # noqa: E402
from appliance.config import load_settings  # noqa: E402
from appliance.descriptions import parse_description  # noqa: E402
from appliance.pricing import DEFAULT_PRICE_BOOK, quote, validate_price_book  # noqa: E402
from pipelines.sketch import render  # noqa: E402
from tests.live import LiveServer  # noqa: E402

DESCRIPTIONS = [
    "14k rose gold ring with a 1.5 carat oval lab diamond, tiny diamonds on the band, size 6",
    "platinum halo engagement ring, 2ct cushion diamond, size 6 1/2",
    "sterling silver pendant with an 8x6mm oval sapphire on an 18 inch chain",
    "three stone ring in 18k white gold with a 1 carat round diamond and sapphire side stones",
    "diamond stud earrings 0.5ct each in white gold",
]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    specs = [parse_description(d).spec for d in DESCRIPTIONS]

    times = []
    for i in range(20):
        start = time.perf_counter()
        render(specs[i % len(specs)], i % 4, seed=i, size=640)
        times.append(time.perf_counter() - start)
    print(f"sketch render 640px: median {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {percentile(times, 95) * 1000:.0f} ms (one round of 4: ~{4 * statistics.median(times):.1f} s)")

    book = validate_price_book(DEFAULT_PRICE_BOOK)
    n = 10_000
    start = time.perf_counter()
    for i in range(n):
        quote(specs[i % len(specs)], book)
    elapsed = time.perf_counter() - start
    print(f"quotes: {n / elapsed:,.0f} per second ({elapsed / n * 1e6:.0f} us each)")

    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(Path(folder), generator="sketch")
        store = cli.open_appliance(settings)
        customer_app, _ = cli.build_apps(settings, store)
        with LiveServer(customer_app) as server, httpx.Client(base_url=server.url) as client:
            design = client.post("/api/v1/designs", json={"description": DESCRIPTIONS[0]}).json()
            form = {"piece_type": "ring", "metal": "14k_rose", "ring_size": "6", "stones-0-role": "center",
                    "stones-0-type": "lab_diamond", "stones-0-shape": "oval", "stones-0-length_mm": "9.16",
                    "stones-0-width_mm": "6.54", "stones-0-count": "1", "stones-0-setting": "prong"}
            latencies = []
            for i in range(300):
                form["metal"] = ("14k_rose", "platinum", "18k_yellow")[i % 3]
                start = time.perf_counter()
                response = client.post(f"/d/{design['id']}/spec", data=form, headers={"HX-Request": "true"})
                latencies.append(time.perf_counter() - start)
                assert response.status_code == 200
        store.close()
    print(f"live price update over HTTP (materials panel, 300 edits): median {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 99) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
