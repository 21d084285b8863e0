"""Metal colour check figures: how often it agrees with the sketch renderer's drawing of
every catalogue metal (every piece type, all four views), how often it calls a drawing in
another metal family a disagreement, and the time per 640 px concept.
Run: .venv/bin/python bench/metal_colour.py"""

from __future__ import annotations

import collections
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.jewelry import catalog  # noqa: E402
from appliance.jewelry.metal_colour import check, family_of  # noqa: E402
from appliance.reader.descriptions import parse_description  # noqa: E402
from pipelines.sketch import VIEWS, render  # noqa: E402

PIECES = ["ring with a 1 carat round diamond", "plain band", "ring with a 2 carat oval sapphire and a diamond halo",
          "wide 8mm band with channel set diamonds", "pendant with a pear ruby", "pendant with a morganite",
          "diamond stud earrings", "tennis bracelet with diamonds", "bracelet", "necklace with an emerald",
          "necklace"]
# A metal of each other family, for the drawings that should be flagged.
OTHER = {"yellow": "platinum", "white": "14k_yellow", "rose": "18k_white"}


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    same, other, times = collections.Counter(), collections.Counter(), []
    for key in catalog.METALS:
        for number, text in enumerate(PIECES):
            spec = parse_description(text).spec.model_copy(update={"metal": key})
            wrong = spec.model_copy(update={"metal": OTHER[family_of(key)]})
            for view in range(len(VIEWS)):
                image = render(spec, view, seed=number * 4 + view, size=640)[0]
                start = time.perf_counter()
                same[check(image, spec).verdict] += 1
                times.append(time.perf_counter() - start)
                other[check(image, wrong).verdict] += 1
    total = sum(same.values())
    print(f"sketches of the spec's own metal ({total}: {len(catalog.METALS)} metals x {len(PIECES)} pieces x "
          f"{len(VIEWS)} views): agrees {same['agrees'] / total:.1%}, unsure {same['unsure'] / total:.1%}, "
          f"disagrees {same['disagrees'] / total:.1%}")
    print(f"the same sketches checked against another family's metal: disagrees {other['disagrees'] / total:.1%}, "
          f"unsure {other['unsure'] / total:.1%}, agrees {other['agrees'] / total:.1%}")
    ordered = sorted(times)
    print(f"check per 640 px concept: median {statistics.median(times) * 1000:.1f} ms, "
          f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
