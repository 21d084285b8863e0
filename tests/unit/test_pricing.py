from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import catalog
from appliance.pricing import DEFAULT_PRICE_BOOK, PriceBookError, metal_weight_g, quote, validate_price_book
from appliance.specs import Spec

BOOK = validate_price_book(DEFAULT_PRICE_BOOK)
CENTER = {"role": "center", "type": "diamond", "shape": "round", "length_mm": 6.5, "width_mm": 6.5}


def test_a_plain_band_weighs_what_ring_geometry_says():
    spec = Spec(metal="14k_yellow", ring_size=7, band_width_mm=4, band_thickness_mm=1.6, profile="flat")
    d = 11.63 + 0.8128 * 7
    expected = 3.14159 * (d + 1.6) * 4 * 1.6 * 13.07 / 1000
    assert metal_weight_g(spec) == pytest.approx(expected, rel=1e-3)
    # Casting suppliers list a 4 mm x 1.6 mm flat 14k band around size 7 at about 4.5-5 g.
    assert 4.0 < metal_weight_g(spec) < 5.5


@settings(max_examples=60, deadline=None)
@given(size=st.floats(3, 15), width=st.floats(1, 11), thick=st.floats(0.8, 3.9))
def test_bigger_rings_and_wider_bands_never_weigh_less(size, width, thick):
    base = Spec(ring_size=size, band_width_mm=width, band_thickness_mm=thick)
    assert metal_weight_g(base.model_copy(update={"ring_size": size + 1})) >= metal_weight_g(base)
    assert metal_weight_g(base.model_copy(update={"band_width_mm": width + 1})) >= metal_weight_g(base)


def test_denser_metal_weighs_more():
    assert metal_weight_g(Spec(metal="platinum")) > metal_weight_g(Spec(metal="18k_yellow")) > metal_weight_g(Spec(metal="sterling"))


@settings(max_examples=60, deadline=None)
@given(mm=st.floats(1, 12), stone=st.sampled_from(sorted(catalog.STONE_TYPES)), metal=st.sampled_from(sorted(catalog.METALS)))
def test_the_total_is_the_sum_of_the_lines_and_bigger_stones_cost_more(mm, stone, metal):
    small = Spec(metal=metal, stones=[{**CENTER, "type": stone, "length_mm": mm, "width_mm": mm}])
    big = Spec(metal=metal, stones=[{**CENTER, "type": stone, "length_mm": mm + 0.5, "width_mm": mm + 0.5}])
    q_small, q_big = quote(small, BOOK), quote(big, BOOK)
    assert q_small.total == sum(line.amount for line in q_small.lines)
    assert q_big.total >= q_small.total


def test_retail_is_cost_times_markup_rounded_and_margin_is_the_difference():
    q = quote(Spec(stones=[CENTER]), BOOK, today=date(2026, 1, 1))
    for line in q.lines:
        assert line.amount == (line.cost * Decimal(BOOK["markup"])).quantize(Decimal("1"))
    assert q.margin == q.total - q.cost_total
    assert q.valid_until == date(2026, 1, 15)
    kinds = [line.kind for line in q.lines]
    assert kinds == ["metal", "stone", "setting", "labor"]


def test_stone_price_uses_the_tier_of_one_stone_not_the_total():
    one_carat = quote(Spec(stones=[CENTER]), BOOK).lines[1]
    melee = quote(Spec(stones=[{**CENTER, "role": "accent", "length_mm": 1.3, "width_mm": 1.3, "count": 125}]), BOOK).lines[1]
    assert one_carat.carat_total == pytest.approx(melee.carat_total, rel=0.1)
    assert one_carat.cost > 3 * melee.cost


def test_earrings_are_priced_as_a_pair():
    single = quote(Spec(piece_type="pendant", stones=[CENTER]), BOOK).lines[1]
    pair = quote(Spec(piece_type="earrings", stones=[CENTER]), BOOK).lines[1]
    assert pair.carat_total == pytest.approx(2 * single.carat_total)
    assert "pair" in pair.label


def test_the_customer_view_has_no_cost_and_the_staff_view_does():
    q = quote(Spec(stones=[CENTER]), BOOK)
    public, staff = q.public(), q.staff()
    assert "cost_total" not in public and all("cost" not in line for line in public["lines"])
    assert Decimal(staff["margin"]) == q.margin and all("cost" in line for line in staff["lines"])
    assert public["lines"][0]["weight_g"] > 0 and public["lines"][1]["carat_total"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("change,field", [
    ({"markup": "-1"}, "markup"),
    ({"currency": "dollars"}, "currency"),
    ({"metal_per_gram": {**DEFAULT_PRICE_BOOK["metal_per_gram"], "platinum": "abc"}}, "metal_per_gram.platinum"),
    ({"stone_per_carat": {**DEFAULT_PRICE_BOOK["stone_per_carat"], "ruby": [["0", "100"], ["0", "200"]]}}, "stone_per_carat.ruby.1"),
    ({"labor": {"ring": "10"}}, "labor.pendant"),
])
def test_a_bad_price_book_names_the_entry(change, field):
    with pytest.raises(PriceBookError) as info:
        validate_price_book({**DEFAULT_PRICE_BOOK, **change})
    assert info.value.field == field
