import pytest

from appliance.reader.descriptions import parse_description


def test_the_studio_example_gives_metal_size_and_both_stone_groups():
    parsed = parse_description("14k rose gold ring with a 1.5 carat oval lab diamond, tiny diamonds on the band, size 6")
    spec = parsed.spec
    assert (spec.piece_type, spec.metal, spec.ring_size) == ("ring", "14k_rose", 6.0)
    center, accent = spec.stones
    assert (center.role, center.type, center.shape, center.count) == ("center", "lab_diamond", "oval", 1)
    assert center.carat_each == pytest.approx(1.5, rel=0.01)
    assert center.length_mm > center.width_mm
    assert (accent.role, accent.type, accent.setting) == ("accent", "lab_diamond", "pave")   # follows the centre
    assert 10 <= accent.count <= 30
    assert parsed.unplaced == []


@pytest.mark.parametrize("text,metal,piece,size", [
    ("platinum halo engagement ring, 2ct cushion diamond, size 6 1/2", "platinum", "ring", 6.5),
    ("sterling silver pendant with an 8x6mm oval sapphire on an 18 inch chain", "sterling", "pendant", None),
    ("18k white gold band 4mm wide, hammered, EU 52", "18k_white", "ring", 6.06),
    ("diamond stud earrings 0.5ct each in white gold", "14k_white", "earrings", None),
    ("yellow gold tennis bracelet with small diamonds", "14k_yellow", "bracelet", None),
    ("one and a half carat round moissanite in 10k yellow gold, size seven", "10k_yellow", "ring", 7.0),
])
def test_metal_piece_and_size_are_read(text, metal, piece, size):
    spec = parse_description(text).spec
    assert (spec.metal, spec.piece_type, spec.ring_size) == (metal, piece, size)


def test_carats_given_as_words_or_fractions_agree_with_digits():
    digits = parse_description("1.5 carat round diamond ring").spec.stones[0]
    for text in ("one and a half carat round diamond ring", "1 1/2 ct round diamond ring", "1.5ct round diamond ring"):
        assert parse_description(text).spec.stones[0].length_mm == digits.length_mm, text


def test_millimetre_sizes_are_kept_as_given():
    stone = parse_description("pendant with an 8x6mm oval sapphire").spec.stones[0]
    assert (stone.type, stone.shape, stone.length_mm, stone.width_mm) == ("sapphire", "oval", 8.0, 6.0)


def test_three_stone_gets_two_matching_side_stones():
    spec = parse_description("three-stone ring, 1ct oval moissanite").spec
    side = [g for g in spec.stones if g.role == "side"]
    assert len(side) == 1 and side[0].count == 2 and side[0].type == "moissanite"
    assert side[0].length_mm < spec.center.length_mm


def test_halo_is_counted_around_the_centre_stone():
    spec = parse_description("platinum halo ring with a 2 carat cushion diamond").spec
    halo = next(g for g in spec.stones if g.setting == "halo")
    small = next(g for g in parse_description("platinum halo ring with a 0.5 carat round diamond").spec.stones
                 if g.setting == "halo")
    assert halo.count > small.count >= 6


def test_words_it_could_not_place_are_reported():
    parsed = parse_description("rose gold ring shaped like a unicorn with a dragon")
    assert "unicorn" in parsed.unplaced and "dragon" in parsed.unplaced


def test_assumptions_are_said_out_loud():
    parsed = parse_description("a ring with a diamond")
    text = " ".join(parsed.notes)
    assert "14k yellow gold" in text and "US 7" in text and "1 carat" in text


def test_an_explicit_piece_type_wins_over_the_words():
    assert parse_description("rose gold with a ruby", piece_type="pendant").spec.piece_type == "pendant"
