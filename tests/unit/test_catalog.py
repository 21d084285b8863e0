"""Carat estimates against published carat-by-millimetre charts.

References:
- Round diamonds: diamondsareforeveryone.co.uk round size chart (4 mm 0.25 ct,
  5 mm 0.50, 5.75 mm 0.75, 6.5 mm 1.00, 7.3 mm 1.50, 8 mm 2.00, 9.1 mm 3.00).
- Fancy shapes: StoneAlgo "Diamond Size Chart" average face-up size of 1/2/3 ct stones
  (asscher 5.4/6.9/8.0 mm, cushion 5.6/7.2/8.2, emerald 5.7/7.2/8.2, heart 6.4/8.1/9.2,
  marquise 7.7/9.6/11.2, oval 6.7/8.4/9.6, pear 7.1/8.9/10.1, princess 5.3/6.8/7.8,
  radiant 5.7/7.3/8.3; the average of length and width).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.jewelry import catalog

ROUND_CHART = [(4.0, 0.25), (5.0, 0.50), (5.75, 0.75), (6.5, 1.00), (7.3, 1.50), (8.0, 2.00), (9.1, 3.00)]
FANCY_CHART = {"asscher": (5.4, 6.9, 8.0), "cushion": (5.6, 7.2, 8.2), "emerald": (5.7, 7.2, 8.2),
               "heart": (6.4, 8.1, 9.2), "marquise": (7.7, 9.6, 11.2), "oval": (6.7, 8.4, 9.6),
               "pear": (7.1, 8.9, 10.1), "princess": (5.3, 6.8, 7.8), "radiant": (5.7, 7.3, 8.3)}


@pytest.mark.parametrize("mm,carat", ROUND_CHART)
def test_round_diamonds_within_8_percent_of_the_chart(mm, carat):
    assert catalog.stone_carat("diamond", "round", mm, mm) == pytest.approx(carat, rel=0.08)


@pytest.mark.parametrize("shape", sorted(FANCY_CHART))
def test_fancy_shapes_within_15_percent_of_average_sizes(shape):
    ratio = catalog.SHAPES[shape].ratio
    for carat, average in zip((1, 2, 3), FANCY_CHART[shape]):
        width = 2 * average / (1 + ratio)
        assert catalog.stone_carat("diamond", shape, width * ratio, width) == pytest.approx(carat, rel=0.15)


@given(shape=st.sampled_from(sorted(catalog.SHAPES)), carat=st.floats(0.05, 10),
       stone=st.sampled_from([k for k, s in catalog.STONE_TYPES.items() if not s.by_piece]))
def test_size_from_carat_gives_that_carat_back(shape, carat, stone):
    length, width = catalog.stone_size_for_carat(stone, shape, carat)
    assert catalog.stone_carat(stone, shape, length, width) == pytest.approx(carat, rel=0.02)


def test_denser_gems_weigh_more_at_the_same_size():
    assert catalog.stone_carat("sapphire", "oval", 8, 6) > catalog.stone_carat("diamond", "oval", 8, 6) > \
        catalog.stone_carat("emerald", "oval", 8, 6)


def test_longer_step_cuts_use_a_larger_factor():
    short = catalog.stone_carat("diamond", "emerald", 6, 6) / 36
    long = catalog.stone_carat("diamond", "emerald", 12, 6) / 72
    assert long > short
