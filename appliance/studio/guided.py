"""Guided steps, the alternative to describing the piece in words: piece, metal, stones,
size, review. Each answer is checked as it is given (Invalid names the field), and the
answers become the same Spec the reader makes from words, so the studio, the panel, the
price and the order work alike whichever way a design began. Every fact of a guided
design is the customer's own choice, except the sizes they left to the standard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from appliance.errors import Invalid
from appliance.jewelry import catalog, ring_sizes
from appliance.jewelry.specs import Spec, StoneGroup, band_accent_count, field_errors, halo_count
from appliance.reader.facts import understood

STEPS = ("piece", "metal", "stones", "size", "review")
STEP_TITLES = {"piece": "The piece", "metal": "The metal", "stones": "The stones", "size": "The size",
               "review": "Review"}
# The screens behind the steps: the stones take two (which stone, then its cut and size).
SCREENS = ("piece", "metal", "stones", "cut", "size", "review")
SCREEN_STEP = {"cut": "stones"}
SCREEN_FIELDS = {"piece": ("piece",), "metal": ("metal",), "stones": ("stone", "accents"), "cut": ("shape", "carat"),
                 "size": ("size",), "review": ()}
CARATS = ("0.25", "0.5", "0.75", "1", "1.5", "2", "3")
PEARL_MM = ("6", "7", "8", "9", "10")
ACCENTS = {"none": "No small stones", "band": "Small diamonds along the band", "halo": "A halo of small diamonds"}
RING_SIZES = tuple(f"{n / 2:g}" for n in range(6, 27))           # US 3 to 13 in halves
CHAIN_MM = {"400": "16 in (40 cm), choker", "450": "18 in (45 cm), the usual", "500": "20 in (50 cm)",
            "550": "22 in (55 cm)", "600": "24 in (60 cm)"}
BRACELET_MM = {"160": "16 cm, small wrist", "170": "17 cm", "180": "18 cm, the usual", "190": "19 cm",
               "200": "20 cm, large wrist"}
NOT_SURE = "unsure"


@dataclass
class Answers:
    """What the customer chose so far (strings as the form sends them; empty = not yet)."""
    piece: str = ""
    metal: str = ""
    stone: str = ""           # a stone type, or "none"
    shape: str = ""
    carat: str = ""           # carats, or millimetres for pearls
    accents: str = ""
    size: str = ""            # US ring size, chain or bracelet length in mm, or "unsure"
    errors: dict[str, str] = field(default_factory=dict)

    def as_form(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in ("piece", "metal", "stone", "shape", "carat", "accents", "size")
                if getattr(self, name)}


def _text(form, name: str) -> str:
    return str(form.get(name, "") or "").strip()[:20]


def read_answers(form) -> Answers:
    """The answers a step's form carries, each checked; a bad one is dropped and named
    in `errors` (so the step that asks it is shown again with the message)."""
    a = Answers(**{name: _text(form, name) for name in ("piece", "metal", "stone", "shape", "carat", "accents",
                                                         "size")})
    if a.piece and a.piece not in catalog.PIECE_TYPES:
        a.errors["piece"], a.piece = "Choose ring, pendant, earrings, bracelet or necklace.", ""
    if a.metal and a.metal not in catalog.METALS:
        a.errors["metal"], a.metal = "Choose one of the metals listed.", ""
    if a.stone and a.stone != "none" and a.stone not in catalog.STONE_TYPES:
        a.errors["stone"], a.stone = "Choose one of the stones listed, or no stone.", ""
    pearl = a.stone in catalog.STONE_TYPES and catalog.STONE_TYPES[a.stone].by_piece
    if a.shape and (a.shape not in catalog.SHAPES or (pearl and a.shape != "round")):
        a.errors["shape"], a.shape = "Choose one of the shapes listed.", ""
    if a.carat and a.carat not in (PEARL_MM if pearl else CARATS):
        a.errors["carat"], a.carat = "Choose one of the sizes listed.", ""
    if a.accents and a.accents not in accents_for(a.piece):
        a.errors["accents"], a.accents = "Choose one of the options listed.", ""
    if a.size and a.size != NOT_SURE and a.size not in sizes_for(a.piece):
        a.errors["size"], a.size = "Choose one of the sizes listed.", ""
    return a


def sizes_for(piece: str) -> dict[str, str]:
    """The size choices of a piece (value -> label); earrings have none."""
    if piece == "ring":
        return {size: f"US {ring_sizes.from_us('us', float(size))} · UK {ring_sizes.from_us('uk', float(size))} · "
                f"EU {ring_sizes.from_us('eu', float(size))}" for size in RING_SIZES}
    if piece in ("pendant", "necklace"):
        return CHAIN_MM
    if piece == "bracelet":
        return BRACELET_MM
    return {}


def accents_for(piece: str) -> dict[str, str]:
    """The small-stone choices a piece offers with a centre stone."""
    if piece == "ring":
        return ACCENTS
    if piece == "pendant":
        return {key: ACCENTS[key] for key in ("none", "halo")}
    return {"none": ACCENTS["none"]}


def _answered(a: Answers) -> dict[str, bool]:
    return {"piece": bool(a.piece), "metal": bool(a.metal),
            "stones": bool(a.stone) and (a.stone == "none" or bool(a.accents)),
            "cut": a.stone == "none" or bool(a.shape and a.carat),
            "size": bool(a.size) or not sizes_for(a.piece), "review": False}


def step_to_show(a: Answers, asked: str) -> str:
    """The step asked for, or the first earlier one still unanswered (or answered wrong)."""
    step = asked if asked in SCREENS else "piece"
    answered = _answered(a)
    for earlier in SCREENS[: SCREENS.index(step)]:
        if not answered[earlier] or any(name in a.errors for name in SCREEN_FIELDS[earlier]):
            return earlier
    return step


def spec_of(a: Answers) -> Spec:
    """The spec the answers describe (Invalid naming the field when they do not make one)."""
    stones = []
    if a.stone and a.stone != "none":
        pearl = catalog.STONE_TYPES[a.stone].by_piece
        if pearl:
            length = width = float(a.carat)
        else:
            length, width = catalog.stone_size_for_carat(a.stone, a.shape, float(a.carat))
        stones.append(StoneGroup(role="center", type=a.stone, shape="round" if pearl else a.shape,
                                 length_mm=length, width_mm=width,
                                 setting="bezel" if pearl else "prong"))
    data: dict = {"piece_type": a.piece, "metal": a.metal}
    if a.size and a.size != NOT_SURE:
        key = {"ring": "ring_size", "pendant": "chain_length_mm", "necklace": "chain_length_mm",
               "bracelet": "bracelet_length_mm"}[a.piece]
        data[key] = float(a.size) if key == "ring_size" else int(a.size)
    if stones and a.accents in ("band", "halo"):
        small = "lab_diamond" if a.stone == "lab_diamond" else "diamond"
        centre = stones[0]
        count = (halo_count(centre, 1.3) if a.accents == "halo" else
                 band_accent_count(data.get("ring_size", 7.0), 1.3, band_width_mm=2.0))
        stones.append(StoneGroup(role="accent", type=small, shape="round", length_mm=1.3, width_mm=1.3, count=count,
                                 setting="halo" if a.accents == "halo" else "pave"))
    data["stones"] = [g.model_dump() for g in stones]
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        problem = field_errors(exc)[0]
        raise Invalid(problem["field"], problem["message"]) from None


def words_of(spec: Spec, a: Answers) -> str:
    """The design's description: what the customer chose, in the words the studio shows."""
    parts = [f"{catalog.METALS[spec.metal].label} {catalog.PIECE_TYPES[spec.piece_type]}"]
    parts += [group.describe() for group in spec.stones]
    chosen = a.size not in ("", NOT_SURE)
    if spec.ring_size is not None:
        parts.append(f"size US {ring_sizes.from_us('us', spec.ring_size)}" if chosen
                     else "ring size to be measured")
    if spec.chain_length_mm:
        parts.append(f"{spec.chain_length_mm} mm chain" if chosen else "chain length to be confirmed")
    if spec.bracelet_length_mm:
        parts.append(f"{spec.bracelet_length_mm} mm long" if chosen else "length to be confirmed")
    return "Chosen step by step: " + ", ".join(parts) + "."


def facts_of(spec: Spec, size_known: bool = True) -> list[dict]:
    """Every answer is the customer's choice; a size they were unsure of is the standard."""
    sources = {"piece_type": ("changed", ""), "metal": ("changed", "")}
    size_field = {"ring": "ring_size", "pendant": "chain_length_mm", "necklace": "chain_length_mm",
                  "bracelet": "bracelet_length_mm"}.get(spec.piece_type)
    if size_field:
        sources[size_field] = ("changed", "") if size_known else \
            ("default", "not measured yet: the jeweler will confirm it with you")
    facts = understood(spec, sources, set(), {})
    for fact in facts:
        if fact.field.startswith("stones-"):
            fact.source = "changed"
    return [f.as_dict() for f in facts]
