from appliance.jewelry.feasibility import check
from appliance.jewelry.geometry import metal_weight_g
from appliance.jewelry.specs import Spec

BIG = {"role": "center", "type": "diamond", "shape": "round", "length_mm": 8.2, "width_mm": 8.2}


def codes(spec: Spec) -> set[str]:
    return {f.code for f in check(spec, metal_weight_g(spec))}


def test_a_sensible_solitaire_raises_nothing():
    assert codes(Spec(band_width_mm=2.2, band_thickness_mm=1.7, stones=[{**BIG, "length_mm": 6.5, "width_mm": 6.5}])) == set()


def test_a_two_carat_stone_on_a_thin_band():
    assert "band_too_thin" in codes(Spec(band_width_mm=1.5, band_thickness_mm=1.2, stones=[BIG]))


def test_a_stone_far_wider_than_the_band():
    assert "head_too_wide" in codes(Spec(band_width_mm=1.5, stones=[{**BIG, "length_mm": 12, "width_mm": 10}]))


def test_eternity_bands_cannot_be_resized():
    flags = check(Spec(style="eternity", stones=[{**BIG, "role": "accent", "length_mm": 2, "width_mm": 2, "count": 25,
                                                   "setting": "pave"}]), 3.0)
    flag = next(f for f in flags if f.code == "eternity_not_resizable")
    assert "cannot be resized" in flag.customer and "confirm the size" in flag.staff


def test_pave_on_a_band_too_narrow_for_its_stones():
    assert "pave_band_too_narrow" in codes(Spec(band_width_mm=1.5, stones=[
        {"role": "accent", "length_mm": 1.5, "width_mm": 1.5, "count": 20, "setting": "pave"}]))


def test_unusual_ring_sizes_and_implausible_weights():
    assert "unusual_ring_size" in codes(Spec(ring_size=15))
    assert "implausible_weight" in codes(Spec(band_width_mm=12, band_thickness_mm=4, ring_size=16))
