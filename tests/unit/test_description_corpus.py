"""Seventy descriptions and the spec each must give, exactly (tests/data/descriptions.toml). The
shoppers' phrasings in shopper_descriptions.toml are scored fact by fact in test_reader_scoring.py."""

import tomllib
from pathlib import Path

import pytest

from appliance.reader.descriptions import parse_description

CASES = tomllib.loads((Path(__file__).parents[1] / "data" / "descriptions.toml").read_text())["case"]


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:60] for c in CASES])
def test_description_gives_the_expected_spec(case):
    parsed = parse_description(case["text"])
    spec = parsed.spec
    checks = {"piece": spec.piece_type, "metal": spec.metal, "style": spec.effective_style,
              "chain": spec.chain_length_mm, "chain_style": spec.chain_style, "band": spec.band_width_mm,
              "profile": spec.profile, "finish": spec.finish, "bracelet": spec.bracelet_length_mm}
    for key, actual in checks.items():
        if key in case:
            assert actual == case[key], f"{key}: {actual!r} != {case[key]!r} ({spec.summary()})"
    if "size" in case:
        assert [spec.size_system, spec.size_label] == case["size"], spec.summary()
    if "total_carat" in case:
        total = sum(g.carat_total for g in spec.stones)
        assert total == pytest.approx(case["total_carat"], rel=0.1), spec.summary()
    assert len(spec.stones) == len(case["stones"]), spec.summary()
    for group, expected in zip(spec.stones, case["stones"]):
        for key in ("role", "type", "shape", "count", "setting"):
            if key in expected:
                assert getattr(group, key) == expected[key], f"{key} of {group} ({spec.summary()})"
        if "carat" in expected:
            assert group.carat_each == pytest.approx(expected["carat"], rel=0.05), spec.summary()
        if "mm" in expected:
            assert [group.length_mm, group.width_mm] == expected["mm"], spec.summary()
    if "unplaced" in case:
        # Words the spec cannot hold are reported: as unplaced, or as details for the jeweler.
        assert sorted(parsed.unplaced + parsed.details) == sorted(case["unplaced"])
