"""Grades and budgets: a better grade never costs less, each setting fee follows the size
of one stone, labour follows the metal, and every budget suggestion is under the budget."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.jewelry import budget, catalog
from appliance.jewelry.price_book import DEFAULT_PRICE_BOOK, validate_price_book
from appliance.jewelry.pricing import quote
from appliance.jewelry.specs import Spec, StoneGroup, default_thickness

BOOK = validate_price_book(DEFAULT_PRICE_BOOK)
GRADED = ["diamond", "lab_diamond", "sapphire", "ruby", "emerald", "tanzanite"]


def ring(stone_type="diamond", carat=1.0, quality=None, **extra) -> Spec:
    length, width = catalog.stone_size_for_carat(stone_type, "round", carat)
    return Spec(stones=[StoneGroup(type=stone_type, length_mm=length, width_mm=width, quality=quality)], **extra)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(GRADED), st.floats(0.1, 3.0), st.data())
def test_a_better_grade_never_costs_less(stone_type, carat, data):
    choices = catalog.quality_choices(stone_type)
    better, worse = sorted(data.draw(st.lists(st.sampled_from(range(len(choices))), min_size=2, max_size=2,
                                              unique=True)))
    if catalog.quality_family(stone_type) != "gem":
        # Colour and clarity each at least as good: a strictly better stone.
        b_col, b_cla = choices[better].split("/")
        w_col, w_cla = choices[worse].split("/")
        if catalog.DIAMOND_CLARITIES.index(b_cla) > catalog.DIAMOND_CLARITIES.index(w_cla):
            return
    assert quote(ring(stone_type, carat, choices[better]), BOOK).total >= \
        quote(ring(stone_type, carat, choices[worse]), BOOK).total


def test_a_grade_the_stone_is_not_sold_by_is_refused_in_words():
    try:
        StoneGroup(type="sapphire", quality="G-H/VS")
    except ValueError as exc:
        assert "choose one of: AAAA, AAA, AA, A" in str(exc)
    else:
        raise AssertionError("accepted a diamond grade on a sapphire")


def test_setting_fees_follow_the_size_of_one_stone():
    melee = Spec(piece_type="bracelet", style="tennis", stones=[StoneGroup(role="accent", length_mm=1.5, width_mm=1.5,
                                                                          count=80)])
    line = next(line for line in quote(melee, BOOK).lines if line.kind == "setting")
    assert line.cost == Decimal(BOOK["setting_fee"]["prong"]["melee"]) * 80 and "80 melee" in line.label
    centre = next(line for line in quote(ring(), BOOK).lines if line.kind == "setting")
    assert centre.cost == Decimal(BOOK["setting_fee"]["prong"]["centre"])


def test_labour_follows_the_metal_and_never_falls_under_the_minimum():
    def labour(metal: str, book=BOOK) -> Decimal:
        return next(line.cost for line in quote(Spec(metal=metal), book).lines if line.kind == "labor")
    assert labour("sterling") < labour("14k_yellow") < labour("platinum")
    floor = {**BOOK, "labor_minimum": "500"}
    assert labour("sterling", floor) == Decimal("500.00")


def test_band_thickness_follows_the_width_unless_given():
    assert default_thickness(2) == 1.5 and default_thickness(6) == 2.0
    assert Spec(band_width_mm=8).band_thickness_mm == 2.3 and Spec(band_width_mm=8, band_thickness_mm=1.4).band_thickness_mm == 1.4


def test_every_line_says_its_basis_in_retail_terms():
    lines = quote(ring(), BOOK).public()["lines"]
    by_kind = {line["kind"]: line for line in lines}
    assert by_kind["metal"]["basis"]["unit"] == "g" and by_kind["stone"]["basis"]["unit"] == "ct"
    stone = by_kind["stone"]["basis"]
    assert abs(Decimal(stone["unit_price"]) * Decimal(str(stone["quantity"])) - Decimal(by_kind["stone"]["amount"])) < 1
    assert "cost" not in str(lines)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["diamond", "lab_diamond", "sapphire"]), st.floats(0.3, 2.5),
       st.sampled_from(["18k_white", "platinum", "14k_yellow", "22k_yellow"]), st.floats(0.3, 0.95),
       st.booleans())
def test_every_budget_suggestion_is_under_the_budget(stone_type, carat, metal, share, accents):
    spec = ring(stone_type, carat, metal=metal)
    if accents:
        spec = Spec.model_validate({**spec.model_dump(), "stones": [g.model_dump() for g in spec.stones] + [
            {"role": "accent", "length_mm": 1.3, "width_mm": 1.3, "count": 18, "setting": "pave"}]})
    total = quote(spec, BOOK).total
    target = int(total * Decimal(str(share)))
    with_budget = spec.model_copy(update={"budget": max(1, target)})
    found = budget.options(with_budget, BOOK)
    assert len(found) <= 3
    for option in found:
        assert option.total <= target and quote(option.spec, BOOK).total == option.total
    assert [o.total for o in found] == sorted((o.total for o in found), reverse=True)


def test_no_suggestions_when_the_piece_fits_the_budget():
    spec = ring(budget=100_000)
    assert budget.options(spec, BOOK) == [] and budget.options(ring(), BOOK) == []


def test_a_natural_solitaire_over_budget_is_offered_lab_grown_and_a_smaller_stone():
    spec = ring("diamond", 1.5, metal="18k_white", budget=6000)
    labels = [o.label for o in budget.options(spec, BOOK)]
    assert "Lab-grown diamonds instead of natural" in labels
    assert any(label.startswith("A ") and "ct centre stone" in label for label in labels)
