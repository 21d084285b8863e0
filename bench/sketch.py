"""Sketch renderer figures: time per concept image at the studio's size (640 px), and
a round of four. Run: .venv/bin/python bench/sketch.py"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.reader.descriptions import parse_description  # noqa: E402
from pipelines.sketch import render  # noqa: E402

DESCRIPTIONS = [
    "14k rose gold ring with a 1.5 carat oval lab diamond, tiny diamonds on the band, size 6",
    "platinum halo engagement ring, 2ct cushion diamond, size 6 1/2",
    "sterling silver pendant with an 8x6mm oval sapphire on an 18 inch chain",
    "three stone ring in 18k white gold with a 1 carat round diamond and sapphire side stones",
    "diamond stud earrings 0.5ct each in white gold",
    "14k white gold diamond tennis bracelet, 3 carats total, 7 inch",
]


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    specs = [parse_description(d).spec for d in DESCRIPTIONS]
    times = []
    for i in range(48):
        start = time.perf_counter()
        render(specs[i % len(specs)], i % 4, seed=i, size=640)
        times.append(time.perf_counter() - start)
    ordered = sorted(times)
    print(f"sketch render 640 px: median {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:.0f} ms; "
          f"a round of four ~{4 * statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
