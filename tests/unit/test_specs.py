import pytest
from pydantic import ValidationError

from appliance.jewelry.specs import Spec, StoneGroup, field_errors


def errors_of(**data) -> dict:
    with pytest.raises(ValidationError) as info:
        Spec(**data)
    return {e["field"]: e["message"] for e in field_errors(info.value)}


def test_an_unknown_metal_is_named_with_the_choices():
    errors = errors_of(metal="unobtainium")
    assert "metal" in errors and "14k_rose" in errors["metal"]


def test_a_negative_stone_size_names_the_stone_field():
    errors = errors_of(stones=[{"role": "center", "type": "diamond", "shape": "round", "length_mm": -2, "width_mm": 2}])
    assert "stones.0.length_mm" in errors


def test_ring_sizes_outside_the_range_are_refused_and_quarters_kept():
    assert "ring_size" in errors_of(ring_size=30)
    assert Spec(ring_size=6.3).ring_size == 6.25


def test_a_piece_has_at_most_one_centre_stone():
    stone = {"role": "center", "type": "diamond", "shape": "round", "length_mm": 5, "width_mm": 5}
    errors = errors_of(stones=[stone, stone])
    assert any("centre" in m for m in errors.values())


def test_non_rings_carry_no_ring_size_and_pendants_get_a_chain():
    spec = Spec(piece_type="pendant", ring_size=6)
    assert spec.ring_size is None and spec.chain_length_mm == 450


def test_unknown_fields_are_refused():
    assert "colour" in errors_of(colour="blue")


def test_carat_of_a_standard_round_diamond():
    # Trade charts: a 6.5 mm round brilliant is about 1.00 ct.
    assert StoneGroup(length_mm=6.5, width_mm=6.5).carat_each == pytest.approx(1.0, abs=0.05)
