"""Reader figures: descriptions read per second over the two corpora (real shoppers'
phrasings), the slowest single description, and quotes per second in the same run, so the
ratio says whether reading is the slow part of a price update.

Run: .venv/bin/python bench/reader.py
"""

from __future__ import annotations

import os
import platform
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.jewelry.price_book import DEFAULT_PRICE_BOOK, validate_price_book  # noqa: E402
from appliance.jewelry.pricing import quote  # noqa: E402
from appliance.reader.descriptions import parse_description  # noqa: E402


def corpus() -> list[str]:
    texts = []
    for name in ("descriptions.toml", "shopper_descriptions.toml"):
        texts += [c["text"] for c in tomllib.loads((ROOT / "tests" / "data" / name).read_text())["case"]]
    return texts


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    texts = corpus()
    specs = [parse_description(t).spec for t in texts]          # warm caches (compiled patterns)
    book = validate_price_book(DEFAULT_PRICE_BOOK)
    rounds = 10
    start = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            parse_description(text)
    read_s = time.perf_counter() - start
    timings = []
    for text in texts:
        t0 = time.perf_counter()
        parse_description(text)
        timings.append((time.perf_counter() - t0, text))
    slowest = max(timings)
    start = time.perf_counter()
    for _ in range(rounds):
        for spec in specs:
            quote(spec, book)
    quote_s = time.perf_counter() - start
    n = rounds * len(texts)
    print(f"descriptions: {len(texts)} phrasings x {rounds}, mean length {sum(map(len, texts)) / len(texts):.0f} chars")
    print(f"reader: {n / read_s:,.0f} descriptions/s ({read_s / n * 1000:.2f} ms each); "
          f"slowest {slowest[0] * 1000:.2f} ms ({len(slowest[1])} chars)")
    print(f"quote:  {n / quote_s:,.0f} quotes/s ({quote_s / n * 1000:.3f} ms each)")
    print(f"a price update from words: reading is {read_s / (read_s + quote_s):.0%} of read + quote")


if __name__ == "__main__":
    main()
