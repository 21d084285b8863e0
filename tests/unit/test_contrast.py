"""WCAG contrast maths (web/contrast.py): the figures WCAG publishes, and an accent that
is darkened only as far as it must be."""

import pytest

from web.contrast import AA_TEXT, contrast_ratio, darken, parse_hex, readable_accent, relative_luminance, to_hex


def test_black_on_white_is_21_and_a_colour_on_itself_is_1():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#000") == pytest.approx(21.0)
    assert contrast_ratio("#b88a3e", "#b88a3e") == pytest.approx(1.0)


def test_luminance_follows_the_wcag_formula():
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    assert relative_luminance("#000000") == 0
    # #777777 is the classic grey just under 4.5:1 on white; #767676 just over.
    assert contrast_ratio("#777777", "#ffffff") < AA_TEXT < contrast_ratio("#767676", "#ffffff")


def test_white_on_the_old_gold_fails_and_the_palette_s_accent_passes():
    assert contrast_ratio("#ffffff", "#b88a3e") == pytest.approx(3.11, abs=0.01)
    for background in ("#ffffff", "#faf8f4", "#f4f5f7", "#fbf6ec", "#fdf0d8"):
        assert contrast_ratio("#85622a", background) >= AA_TEXT


def test_hex_colours_are_read_in_both_lengths_and_nothing_else():
    assert parse_hex("#fa0") == (255, 170, 0)
    assert parse_hex("B88A3E") == (184, 138, 62)
    assert to_hex((184, 138, 62)) == "#b88a3e"
    for bad in ("gold", "#12345", "#gggggg", "", "rgb(1,2,3)"):
        with pytest.raises(ValueError):
            parse_hex(bad)


def test_darken_keeps_the_hue_and_lowers_every_channel():
    assert darken("#b88a3e", 0.5) == "#5c451f"
    assert darken("#ffffff", 1.0) == "#ffffff"


def test_a_readable_accent_is_left_as_it_is():
    assert readable_accent("#85622A", ("#ffffff", "#faf8f4")) == "#85622a"


@pytest.mark.parametrize("colour", ["#b88a3e", "#f0c040", "#ffffff", "#9ad", "#ff69b4"])
def test_a_light_accent_is_darkened_just_enough_to_pass(colour):
    against = ("#ffffff", "#faf8f4", "#f4f5f7")
    accent = readable_accent(colour, against)
    worst = min(contrast_ratio(accent, other) for other in against)
    assert AA_TEXT <= worst < AA_TEXT + 0.5            # readable, and no darker than it must be
    assert all(a <= c for a, c in zip(parse_hex(accent), parse_hex(colour)))


def test_an_impossible_demand_is_refused_rather_than_answered_wrong():
    with pytest.raises(ValueError, match="no darker shade"):
        readable_accent("#333333", ("#000000",))
