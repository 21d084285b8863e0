"""Ring sizes against published tables, and conversions that come back to where they
started.

References:
- US to inner diameter and EU: jewelersoutlets.com size comparison chart (US 5 = 15.6 mm
  EU 50 (49.3 mm around), US 6 = 16.45 mm EU 52, US 7 = 17.3 mm EU 54, US 8 = 18.2 mm
  EU 57, US 9 = 19.0 mm EU 60, US 10 = 19.8 mm EU 62).
- UK letters: zuzujewellery.com UK ring size diameters (L 16.40, M 16.79, N 17.18,
  P 17.97, R 18.76 mm); ringsizely.com: US 7 = UK N½.
- Japan: edgarlowen.com: size 1 is 13 mm inside diameter, one size per third of a mm.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.jewelry import ring_sizes


@pytest.mark.parametrize("us,diameter,eu", [(5, 15.6, 50), (6, 16.45, 52), (7, 17.3, 54), (8, 18.2, 57),
                                            (9, 19.0, 60), (10, 19.8, 62)])
def test_us_sizes_match_the_chart(us, diameter, eu):
    assert ring_sizes.inner_diameter(us) == pytest.approx(diameter, abs=0.1)
    assert abs(float(ring_sizes.from_us("eu", us)) - eu) <= 1


@pytest.mark.parametrize("letter,diameter", [("L", 16.40), ("M", 16.79), ("N", 17.18), ("P", 17.97), ("R", 18.76)])
def test_uk_letters_match_the_chart(letter, diameter):
    assert ring_sizes.to_circumference("uk", letter) / 3.14159265 == pytest.approx(diameter, abs=0.1)


def test_well_known_equivalents():
    assert ring_sizes.from_us("uk", 7) == "N½"
    assert ring_sizes.from_us("jp", 7) == "14"
    assert ring_sizes.to_us("uk", "M½") == pytest.approx(6.5, abs=0.15)


@pytest.mark.parametrize("system", sorted(ring_sizes.SYSTEMS))
def test_every_size_converts_to_us_and_back(system):
    for label in ring_sizes.labels(system):
        assert ring_sizes.from_us(system, ring_sizes.to_us(system, label)) == label


@given(system=st.sampled_from(sorted(ring_sizes.SYSTEMS)), data=st.data())
def test_any_size_round_trips_through_circumference(system, data):
    label = data.draw(st.sampled_from(ring_sizes.labels(system)))
    mm = ring_sizes.to_circumference(system, label)
    assert ring_sizes.from_circumference(system, mm) == label


@pytest.mark.parametrize("system,label", [("uk", "7"), ("us", "M"), ("eu", "big"), ("xx", "7")])
def test_a_size_that_does_not_exist_is_refused(system, label):
    with pytest.raises(ring_sizes.RingSizeError):
        ring_sizes.to_us(system, label)
