import copy
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.jewelry import catalog
from appliance.jewelry.price_book import DEFAULT_PRICE_BOOK, validate_price_book
from appliance.jewelry.pricing import price_per_gram, quote, retail, round_total
from appliance.jewelry.specs import Spec

BOOK = validate_price_book(DEFAULT_PRICE_BOOK)
CENTER = {"role": "center", "type": "diamond", "shape": "round", "length_mm": 6.5, "width_mm": 6.5}


def book_with(**changes) -> dict:
    book = copy.deepcopy(BOOK)
    book.update(changes)
    return validate_price_book(book)


specs = st.builds(
    lambda piece, metal, size, width, thick, stone, shape, mm, count, finish: Spec(
        piece_type=piece, metal=metal, ring_size=size, band_width_mm=width, band_thickness_mm=thick, finish=finish,
        stones=[{**CENTER, "type": stone, "shape": "round" if stone == "pearl" else shape, "length_mm": mm,
                 "width_mm": mm, "count": count}]),
    st.sampled_from(sorted(catalog.PIECE_TYPES)), st.sampled_from(sorted(catalog.METALS)), st.floats(3, 15),
    st.floats(1, 11), st.floats(0.8, 3.9), st.sampled_from(sorted(catalog.STONE_TYPES)),
    st.sampled_from(sorted(catalog.SHAPES)), st.floats(1, 14), st.integers(1, 3),
    st.sampled_from(sorted(catalog.FINISHES)))


@settings(max_examples=150, deadline=None)
@given(spec=specs, rounding=st.sampled_from(["cent", "unit", "five", "ninety_nine"]), tax=st.sampled_from(["0", "8.25"]))
def test_the_total_is_always_the_sum_of_the_lines(spec, rounding, tax):
    q = quote(spec, book_with(rounding=rounding, tax_rate=tax))
    assert q.total == sum(line.amount for line in q.lines)
    assert all(line.amount >= 0 and line.amount == line.amount.quantize(Decimal("0.01")) for line in q.lines)
    before_tax = q.total - sum(line.amount for line in q.lines if line.tax)
    if rounding == "unit":
        assert before_tax % 1 == 0
    elif rounding == "five":
        assert before_tax % 5 == 0
    elif rounding == "ninety_nine":
        assert before_tax % 1 == Decimal("0.99")


@settings(max_examples=100, deadline=None)
@given(spec=specs, grow=st.floats(0.05, 3))
def test_a_bigger_stone_never_costs_less(spec, grow):
    stone = spec.stones[0]
    bigger = spec.model_copy(update={"stones": [stone.model_copy(update={
        "length_mm": min(30, stone.length_mm + grow), "width_mm": min(30, stone.width_mm + grow)})]})
    assert quote(bigger, BOOK).total >= quote(spec, BOOK).total


@settings(max_examples=100, deadline=None)
@given(spec=specs)
def test_a_bigger_ring_or_wider_band_never_costs_less(spec):
    base = quote(spec, BOOK).total
    if spec.piece_type == "ring":
        assert quote(spec.model_copy(update={"ring_size": min(16, spec.ring_size + 1)}), BOOK).total >= base
    assert quote(spec.model_copy(update={"band_width_mm": min(12, spec.band_width_mm + 0.5)}), BOOK).total >= base


@given(cost=st.decimals(0, 100000, places=2), extra=st.decimals("0.01", 5000, places=2))
def test_markup_brackets_never_make_more_cost_cheaper(cost, extra):
    brackets = BOOK["markup"]["stone"]
    assert retail(cost + extra, brackets) >= retail(cost, brackets)


def test_markup_brackets_apply_slice_by_slice():
    brackets = [["0", "2.0"], ["1000", "1.5"], ["5000", "1.2"]]
    assert retail(Decimal("800"), brackets) == Decimal("1600.00")
    assert retail(Decimal("3000"), brackets) == Decimal("2000") + Decimal("2000") * Decimal("1.5")
    assert retail(Decimal("6000"), brackets) == Decimal("2000") + Decimal("6000") + Decimal("1200")


@pytest.mark.parametrize("mode,amount,expected", [
    ("cent", "1234.565", "1234.57"), ("unit", "1234.50", "1235"), ("five", "1232.40", "1230"),
    ("five", "1233", "1235"), ("ninety_nine", "1234.10", "1234.99"), ("ninety_nine", "1234.99", "1234.99"),
])
def test_rounding_modes(mode, amount, expected):
    assert round_total(Decimal(amount), mode) == Decimal(expected)


def test_lines_a_customer_reads():
    spec = Spec(metal="14k_rose", ring_size=6, stones=[{**CENTER, "type": "lab_diamond"},
                                                       {"role": "accent", "length_mm": 1.3, "width_mm": 1.3,
                                                        "count": 18, "setting": "pave"}])
    q = quote(spec, BOOK, today=date(2026, 1, 1))
    assert [line.kind for line in q.lines] == ["metal", "stone", "stone", "setting", "labor"]
    assert q.lines[0].label.startswith("14k rose gold solitaire, ") and q.lines[0].label.endswith(" g")
    assert "1.03 ct round lab-grown diamond" in q.lines[1].label and q.lines[2].label.startswith("Accent stones: 18 x")
    assert q.lines[3].label == "Setting 19 stones (18 melee, 1 centre)"
    assert q.valid_until == date(2026, 1, 15) and q.deposit == (q.total * Decimal("0.30")).quantize(Decimal("0.01"))


def test_tax_is_its_own_line_and_not_margin():
    q = quote(Spec(stones=[CENTER]), book_with(tax_rate="10"))
    tax = [line for line in q.lines if line.tax]
    assert len(tax) == 1 and tax[0].label == "Tax 10%"
    assert tax[0].amount == ((q.total - tax[0].amount) * Decimal("0.1")).quantize(Decimal("0.01"))
    assert q.margin == sum(line.amount - line.cost for line in q.lines if not line.tax)


def test_the_customer_view_has_no_cost_and_the_staff_view_has_markup_and_margin():
    q = quote(Spec(stones=[CENTER]), BOOK)
    public, staff = q.public(), q.staff()
    assert "cost_total" not in public and all("cost" not in line and "markup" not in line for line in public["lines"])
    assert Decimal(staff["margin"]) == q.margin and all("cost" in line and "markup" in line for line in staff["lines"])
    assert staff["lines"][-1]["markup"] == "2.20"                     # labour: one 2.2 bracket


def test_spot_pricing_applies_fineness_and_the_alloy_premium():
    book = book_with(metal_pricing="spot")
    expected = Decimal("3900") / Decimal("31.1034768") * Decimal("0.585") * Decimal("1.10")
    assert price_per_gram(book, "14k_yellow") == expected.quantize(Decimal("0.0001"))
    assert price_per_gram(book, "18k_yellow") > price_per_gram(book, "14k_yellow")
    purer = copy.deepcopy(book)
    purer["metals"]["14k_yellow"]["fineness"] = "0.600"
    assert price_per_gram(validate_price_book(purer), "14k_yellow") > price_per_gram(book, "14k_yellow")


def test_the_price_book_density_drives_the_weight():
    heavy = copy.deepcopy(BOOK)
    heavy["metals"]["14k_yellow"]["density"] = "26.14"        # twice the catalog figure
    light, dense = quote(Spec(), BOOK).lines[0], quote(Spec(), validate_price_book(heavy)).lines[0]
    assert dense.weight_g == pytest.approx(2 * light.weight_g)


def test_earrings_are_a_pair_and_pearls_are_priced_each_by_size():
    single = quote(Spec(piece_type="pendant", stones=[CENTER]), BOOK).lines[2]
    pair = quote(Spec(piece_type="earrings", stones=[CENTER]), BOOK).lines[1]
    assert pair.carat_total == pytest.approx(2 * single.carat_total) and "(pair)" in pair.label
    pearls = quote(Spec(piece_type="earrings", stones=[{**CENTER, "type": "pearl", "length_mm": 8, "width_mm": 8}]), BOOK)
    assert pearls.lines[1].cost == Decimal("120.00") and pearls.lines[1].carat_total is None


def test_labor_follows_style_and_finish():
    solitaire = quote(Spec(stones=[CENTER]), BOOK).lines[-1]
    eternity = quote(Spec(style="eternity", stones=[{**CENTER, "role": "accent", "count": 20}]), BOOK).lines[-1]
    hammered = quote(Spec(stones=[CENTER], finish="hammered"), book_with(rounding="cent")).lines[-1]
    assert eternity.cost > solitaire.cost and "eternity" in eternity.label
    assert hammered.cost == solitaire.cost + Decimal("45") and "hammered" in hammered.label


def test_a_pendant_weighs_its_chain_on_a_line_of_its_own():
    q = quote(Spec(piece_type="pendant", chain_length_mm=500, chain_style="rope", stones=[CENTER]), BOOK)
    metal = [line for line in q.lines if line.kind == "metal"]
    assert len(metal) == 2 and "rope chain, 500 mm" in metal[1].label
