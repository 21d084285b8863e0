"""Properties of the reader over generated descriptions: an unrelated sentence changes no
stated fact, "no X" never yields X, and a karat is never a stone's weight."""

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.reader.descriptions import parse_description

METALS = ["14k rose gold", "18ct white gold", "platinum", "sterling silver", "9k yellow gold", "palladium",
          "22 karat gold", "10kt white gold"]
PIECES = ["ring", "engagement ring", "pendant on an 18 inch chain", "stud earrings", "tennis bracelet",
          "wedding band", "necklace"]
STONES = ["a 1.5 carat oval lab diamond", "an 8x6mm oval sapphire", "a half carat round diamond", "three 4mm rubies",
          "a 2ct cushion moissanite", "a pear shaped aquamarine", "tiny diamonds on the band", "a 7mm pearl",
          "0.75ctw of small diamonds", ""]
SIZES = ["size 6", "size N", "size 7 1/2", "EU 52", ""]
UNRELATED = ["We met in Paris twenty years ago.", "She loves hiking and her two dogs.", "Thanks so much!",
             "It's for our anniversary next spring.", "Please call me after 5pm.", "My sister recommended you.",
             "I saw something similar in a magazine.", "We live about 30 minutes away.",
             "Her favourite colour is blue but she never wears it.", "Is there a small fee for resizing later?",
             "Not in a hurry, maybe 3 weeks."]


@st.composite
def descriptions(draw) -> str:
    parts = [draw(st.sampled_from(METALS)), draw(st.sampled_from(PIECES))]
    stone = draw(st.sampled_from(STONES))
    if stone:
        parts.append("with " + stone)
    size = draw(st.sampled_from(SIZES))
    if size:
        parts.append(size)
    return ", ".join(parts)


def stated(text: str) -> dict:
    parsed = parse_description(text)
    return {f.field: f.value for f in parsed.facts if f.source == "stated"}


@settings(max_examples=150, deadline=None)
@given(descriptions(), st.sampled_from(UNRELATED), st.booleans())
def test_an_unrelated_sentence_changes_no_stated_fact(text, sentence, before):
    longer = f"{sentence} {text}" if before else f"{text}. {sentence}"
    assert stated(longer) == stated(text), longer


NEGATIONS = {
    "no halo": lambda spec: not any(g.setting == "halo" for g in spec.stones),
    "without a halo": lambda spec: not any(g.setting == "halo" for g in spec.stones),
    "no side stones": lambda spec: not any(g.role == "side" for g in spec.stones),
    "no diamonds on the band": lambda spec: not any(g.role == "accent" for g in spec.stones),
    "no small diamonds": lambda spec: not any(g.role == "accent" for g in spec.stones),
    "not white gold": lambda spec: not spec.metal.endswith("_white"),
    "not yellow gold": lambda spec: not spec.metal.endswith("_yellow"),
    "no platinum": lambda spec: spec.metal != "platinum",
    "no stones": lambda spec: not [g for g in spec.stones if g.role != "center"],
    "nothing with stones": lambda spec: not [g for g in spec.stones if g.role != "center"],
}


@settings(max_examples=200, deadline=None)
@given(descriptions(), st.sampled_from(sorted(NEGATIONS)), st.booleans())
def test_no_x_never_yields_x(text, negation, first):
    words = f"{negation}, {text}" if first else f"{text}, {negation}"
    spec = parse_description(words).spec
    assert NEGATIONS[negation](spec), f"{words} -> {spec.summary()}"


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["9", "10", "14", "18", "22"]), st.sampled_from(["k", "kt", "ct", " carat", " karat", "K", "CT"]),
       st.sampled_from(["yellow ", "white ", "rose ", ""]), st.sampled_from(STONES[:-1] + ["a ruby", "an emerald"]),
       st.sampled_from(["{k} {c}gold ring with {s}", "{s} in {k} {c}gold", "{c}gold {k} ring, {s}",
                        "{s}, set in {k} {c}gold, size 6"]))
def test_a_karat_is_never_a_stone_weight(karat, unit, colour, stone, template):
    text = template.format(k=karat + unit, c=colour, s=stone)
    spec = parse_description(text).spec
    assert spec.metal.startswith(karat + "k_") or (karat == "22" and spec.metal == "22k_yellow"), f"{text} -> {spec.metal}"
    for group in spec.stones:
        assert abs(group.carat_each - float(karat)) > 0.5, f"{text} -> {group.describe()}"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300) | st.lists(st.sampled_from(
    METALS + PIECES + STONES + SIZES + UNRELATED + ["no", "not", "ctw", "x", "1/0", "0", "999 ct", "$", "k", "size",
                                                     "each", "?", "!", "(", ")", "mm", "inch", "birthstone", "born in may",
                                                     "a blue stone", "half", "and a half", "total"]),
    max_size=14).map(" ".join))
def test_any_words_read_into_a_valid_spec(text):
    parsed = parse_description(text or "ring")
    assert parsed.spec.piece_type and all(f.source in ("stated", "guessed", "default") for f in parsed.facts)
