import pytest

from appliance.reader.descriptions import parse_description
from appliance.reader.instructions import revise_spec


@pytest.mark.parametrize("instruction,check", [
    ("thinner band", lambda before, after: after.band_width_mm < before.band_width_mm),
    ("a wider band please", lambda before, after: after.band_width_mm > before.band_width_mm),
    ("make it platinum", lambda before, after: after.metal == "platinum"),
    ("bigger stone", lambda before, after: after.center.length_mm > before.center.length_mm),
    ("add a halo", lambda before, after: any(g.setting == "halo" for g in after.stones)),
    ("cushion cut instead", lambda before, after: after.center.shape == "cushion"),
    ("sapphire instead of the diamond", lambda before, after: after.center.type == "sapphire"),
])
def test_an_instruction_revises_the_spec(instruction, check):
    before = parse_description("14k rose gold ring with a 1.5 carat oval lab diamond, size 6").spec
    after, changes = revise_spec(before, instruction)
    assert changes and check(before, after)


def test_an_instruction_with_nothing_to_change_keeps_the_spec():
    before = parse_description("14k rose gold ring with a 1.5 carat oval lab diamond").spec
    assert revise_spec(before, "more sparkle, softer light") == (before, [])


@pytest.mark.parametrize("instruction", ["not yellow gold", "no diamonds please", "no oval, keep it"])
def test_what_an_instruction_says_no_to_is_never_applied(instruction):
    before = parse_description("14k white gold ring with a 1 carat round sapphire, size 6").spec
    after, _ = revise_spec(before, instruction)
    assert after.metal == "14k_white" and after.center.type == "sapphire" and after.center.shape == "round"


def test_a_misspelt_instruction_is_read_as_meant():
    before = parse_description("14k white gold ring with a 1 carat round sapphire, size 6").spec
    after, changes = revise_spec(before, "make it platnium")
    assert after.metal == "platinum" and changes


@pytest.mark.parametrize("instruction,metal", [("make it 14k", "14k_white"), ("rose gold instead", "18k_rose"),
                                               ("22k please", "22k_yellow"), ("platinum", "platinum")])
def test_a_metal_instruction_changes_only_what_it_names(instruction, metal):
    before = parse_description("18k white gold ring with a 1 carat round sapphire, size 6").spec
    assert revise_spec(before, instruction)[0].metal == metal


def test_an_instruction_can_weigh_the_centre_stone():
    before = parse_description("18k yellow gold ring with a 1 carat round sapphire, size 7").spec
    after, changes = revise_spec(before, "a 2 carat emerald cut stone")
    assert after.center.shape == "emerald" and abs(after.center.carat_each - 2.0) < 0.05
    assert revise_spec(before, "1ctw of small diamonds")[0].center == before.center
