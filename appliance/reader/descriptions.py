"""The description reader: a customer's words -> a Spec, with what it understood, what it
assumed and which words it could not place (so the studio can ask rather than guess).

It reads the catalog's vocabulary only; no model is involved, so the same words always
give the same spec. The order matters and is the point: the text is normalised (numbers,
fractions, units, misspellings), then the facts that are easiest to misread as others are
taken first (the budget, what the customer does not want, the gold's karat, the ring
size, measurements placed by the word beside them), and only then the stones, clause by
clause. A fact the reader is unsure of is left at a named default, never invented: a
wrong fact reaches the customer as a wrong price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.jewelry import catalog, ring_sizes
from appliance.jewelry.specs import MAX_STONE_GROUPS, Spec
from appliance.reader import measures
from appliance.reader.facts import Fact, understood
from appliance.reader.reading import Text, correct_spelling, normalise
from appliance.reader.stone_groups import finish_groups
from appliance.reader.stone_names import guess_stones
from appliance.reader.stone_phrases import ON_BAND_RE, read_stones


@dataclass
class ParsedDescription:
    spec: Spec
    notes: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


_STOPWORDS = set("""
a an the and with of on in for to my her his our their i we me want would like please some around about
approx approximately roughly maybe each it its that this is be made set into at as very really nice
beautiful pretty simple classic elegant style styled looking lady ladies woman women man men men's women's mens
womens gift custom design idea something piece jewelry jewellery love gold carat carats ct mm stone stones cut
shaped shape sized size side plain solid real genuine husband wife fiance fiancee girlfriend boyfriend
partner mom mother daughter son him anniversary engagement wedding proposal fit profile setting row total
either natural mined looking just small tiny also or by from up inch inches cm chain she he they her's
hers was is are been have has had will can could should looking think thinking prefer preferred ideally
something anything kind sort type kinda sorta lovely gorgeous stunning special perfect birthday christmas
present surprise years year old new one ones quite bit little lot lots much more most so too not no
but if then than what which who where when how do does did get got make making made hi hello thanks thank
you your yours us am im i'm i'd id we're looking want wanted wanting need needs needed go going
few couple several born wears wear wearing
""".split())

_PIECES = [
    (r"\b(?:engagement\s+ring|wedding\s+band|wedding\s+ring|eternity\s+ring|ring|band(?!\s+of)|shank|signet)\b", "ring"),
    (r"\b(?:pendant|charm|locket)\b", "pendant"),
    (r"\b(?:earrings?|studs?|drops?|hoops?|huggies|dangles?)\b", "earrings"),
    (r"\b(?:bracelet|bangle|cuff|anklet)\b", "bracelet"),
    (r"\b(?:necklace|chain|choker)\b", "necklace"),
]
_PART_WORDS = {"drop", "dangle", "chain", "charm", "band", "shank"}
# The piece the customer wants, when the words also tell of another ('her old ring ...
# put it in a new pendant'): named after one of these, it wins.
_WANTED_PIECE = re.compile(r"\b(?:new|into\s+an?|as\s+an?|get\s+(?:him|her|me|them|us)\s+an?|buy\s+(?:him|her|me)?\s*an?|make\s+(?:me\s+|her\s+|him\s+)?an?|turn(?:ed)?\s+(?:it\s+)?into\s+an?|"
                           r"remake\s+(?:it\s+)?(?:as|into)\s+an?|want\s+an?|would\s+like\s+an?|'d\s+like\s+an?|"
                           r"love\s+an?|looking\s+for\s+an?)\s+(?:[a-z]+\s+){0,3}?$")
_STYLE_WORDS = [
    (r"\bsolitaire\b", {"ring": "solitaire", "pendant": "solitaire", "necklace": "pendant"}),
    (r"\b(?:3\s*stones?|trilogy|trinity)\b", {"ring": "three_stone"}),
    (r"\b(?:eternity|all\s+(?:the\s+way\s+)?around)\b", {"ring": "eternity"}),
    (r"\bstuds?\b", {"earrings": "stud"}),
    (r"\b(?:drops?|dangles?)\b", {"earrings": "drop", "necklace": "pendant"}),
    (r"\b(?:hoops?|huggies)\b", {"earrings": "hoop"}),
    (r"\btennis\b", {"bracelet": "tennis", "necklace": "riviera"}),
    (r"\briviera\b", {"necklace": "riviera"}),
    (r"\b(?:bangle|cuff)\b", {"bracelet": "bangle"}),
    (r"\blink\b", {"bracelet": "chain"}),
]

_SIZE_PATTERNS = [
    (re.compile(r"\b(?:size\s*)?uk\s*(?:size\s*)?([a-z])(?:\s*(0\.5))?\b"), "uk"),
    (re.compile(r"\b(?:size\s*)?(?:jp|japan(?:ese)?)\s*(?:size\s*)?(\d{1,2})\b"), "jp"),
    (re.compile(r"\b(?:size\s*)?eu\s*(?:size\s*)?(\d{2}(?:\.5)?)\b"), "eu"),
    (re.compile(r"\b(?:size\s*)?us\s*(?:size\s*)?(\d{1,2}(?:\.\d+)?)\b"), "us"),
    (re.compile(r"\b(?:ring\s+|finger\s+)?size\s*(?:is\s+|of\s+|=\s*|:\s*|would\s+be\s+|around\s+|about\s+)?"
                r"(?:a\s+)?(\d{1,2}(?:\.\d+)?)(?!\s*(?:mm|cm|ct|carat|inch|x\b))\b"), "us"),
    (re.compile(r"\b(?:ring\s+|finger\s+)?size(?:\s+|\s*:\s*)(?:is\s+|of\s+)?(?:an?\s+)?([d-z])(?:\s*(0\.5))?\b"), "uk"),
    (re.compile(r"\b(?:finger|she|he)\s*(?:is|'s)\s+(?:an?\s+)?([d-z])(?:\s*(0\.5))?\b(?!')"), "uk"),
    (re.compile(r"\b(?:she|he|i)\s*(?:is|'s|am|'m|wears?)\s+(?:a\s+)?(?:size\s+)?(\d{1,2}(?:\.\d+)?)\b"
                r"(?!\s*(?:mm|cm|ct|carat|years?|yrs?|ft|feet|foot|inch)|\s*'|\s*\d)"), "us"),
    (re.compile(r"\b(?:go\s+with|let'?s\s+do|make\s+it)\s+(?:a\s+)?(?:size\s+)?(\d{1,2}(?:\.\d+)?)\b(?!\s*(?:mm|cm|ct|carat|k\b|inch))"), "us"),
]
_THIN_RE = re.compile(r"\b(thin|slim|skinny|delicate|dainty|fine)\b(?=(?:\s+[\w.]+){0,4}\s+(band|shank|ring|chain)\b)")
_THICK_RE = re.compile(r"\b(thick|chunky|wide|bold|heavy)\b(?=(?:\s+[\w.]+){0,4}\s+(band|shank|ring)\b)")
_FINISH_RE = re.compile(r"\b(matte|matt|brushed|satin|hammered|polished|high\s+polish|shiny)\b")
_FINISH_WORDS = {"satin": "brushed", "high polish": "polished", "matt": "matte", "shiny": "polished"}
_PROFILE_RE = re.compile(r"\b(comfort|court|flat|d\s*shaped?)(?:\s+(?:fit|profile|shape|band))?\b")
_LENGTH_RE = re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d+)?)\s*inch\b|(?<![\d.])(\d{2})\s*cm\b|(?<![\d.])(\d{3})\s*mm\b")
_CHAIN_STYLE_RE = re.compile(r"\b(cable|box|rope|curb|figaro|snake)\b(?=\s+(?:chain|style|link))(?:\s+style)?")
_DEFAULT_METALS = ("14k_yellow", "14k_white", "14k_rose", "platinum", "sterling")


def parse_description(description: str, piece_type: str | None = None) -> ParsedDescription:
    """Read a customer's description into a Spec.

    Returns the spec, notes on what was assumed (so the customer can check it), the facts
    understood with how each was known (stated, guessed, default), design details the
    spec cannot hold (for the jeweler), and the words no rule placed.
    """
    text, corrections = correct_spelling(normalise(description))
    text, stone_notes, guessed_types = guess_stones(text)
    t = Text(text)
    notes: list[str] = [f"Read \u201c{wrote}\u201d as {meant}." for wrote, meant in corrections]
    sources: dict[str, tuple[str, str]] = {}      # field -> (stated | guessed | default, why)
    fields: dict = {}

    if (budget := measures.read_budget(t)) is not None:
        fields["budget"] = budget
        sources["budget"] = ("stated", "")
    excluded = measures.read_exclusions(t)
    details = measures.read_details(t)
    if "half eternity" in details:
        fields["_band_line"] = True
    metal = measures.read_metal(t)
    _read_size(t, fields)
    on_band = [m.span() for m in ON_BAND_RE.finditer(t.text)]
    for span in on_band:
        t.take(span)
    parsed_piece = _read_piece(t)
    piece = piece_type or parsed_piece or "ring"
    fields["piece_type"] = piece
    # Measurements first: '25mm hoops' and '1.5mm chain' need the piece word beside them.
    fields.update(measures.read_measurements(t, piece))
    for pattern, by_piece in _STYLE_WORDS:
        if piece in by_piece and t.take_all(pattern):
            fields.setdefault("style", by_piece[piece])
    if parsed_piece:
        for pattern, _ in _PIECES:
            t.take_all(pattern)
    if piece_type or parsed_piece:
        sources["piece_type"] = ("stated", "")
    elif "style" in fields:
        sources["piece_type"] = ("guessed", "from the style you named")
    else:
        notes.append("No piece type mentioned; showing a ring.")
        sources["piece_type"] = ("default", "no piece named")

    fields["metal"] = _choose_metal(metal, excluded, notes, sources)
    if piece != "ring":
        fields.pop("ring_size", None)
        fields.pop("size_system", None)
    elif "ring_size" in fields:
        sources["ring_size"] = ("stated", "")
    else:
        notes.append("No ring size given; assumed US 7. Change it in the materials panel.")
        sources["ring_size"] = ("default", "no size given")

    _read_lengths(t, fields, piece)
    if m := t.find(_FINISH_RE):
        fields["finish"] = _FINISH_WORDS.get(m.group(1), m.group(1))
        t.take(m)
    if m := t.find(_PROFILE_RE):
        word = m.group(1)
        fields["profile"] = "d_shape" if word.startswith("d") else word
        t.take(m)
    if "band_width_mm" not in fields and (m := t.find(_THIN_RE)):
        fields["band_width_mm"] = 1.0 if m.group(2) == "chain" else 1.6
        sources["band_width_mm"] = ("guessed", f"from \u201c{m.group(1)}\u201d")
        t.take(m)
    elif "band_width_mm" not in fields and (m := t.find(_THICK_RE)):
        fields["band_width_mm"] = 4.0
        fields.setdefault("band_thickness_mm", 2.0)
        sources["band_width_mm"] = ("guessed", f"from \u201c{m.group(1)}\u201d")
        t.take(m)
    for key in ("band_width_mm", "band_thickness_mm", "hoop_diameter_mm", "bracelet_length_mm", "chain_length_mm"):
        if key in fields:
            sources.setdefault(key, ("stated", ""))

    if "halo" in excluded.concepts and fields.get("style") == "halo":
        fields.pop("style")
    groups = read_stones(t, fields, on_band)
    stones = finish_groups(groups, fields, notes, excluded.concepts)
    fields["stones"] = stones.groups
    notes[len(corrections):len(corrections)] = stone_notes
    if len(fields["stones"]) > MAX_STONE_GROUPS:
        notes.append(f"A piece can hold up to {MAX_STONE_GROUPS} kinds of stone; we kept the first "
                     f"{MAX_STONE_GROUPS}. Tell the jeweler about the others in your notes.")
        fields["stones"] = fields["stones"][:MAX_STONE_GROUPS]
    if excluded.phrases:
        notes.append("Left out as you asked: " + ", ".join(f"\u201c{p}\u201d" for p in excluded.phrases) + ".")
    if details:
        notes.append("For the jeweler: " + ", ".join(details) + " (not shown in the materials list; "
                     "the jeweler reads your words).")
    try:
        spec = Spec(**fields)
    except ValueError:
        # A combination the reader produced but the spec refuses: keep what is certain
        # and let the customer adjust the rest in the materials panel.
        notes.append("Some details could not be combined; please check the materials panel.")
        try:
            spec = Spec(piece_type=fields["piece_type"], metal=fields["metal"], stones=fields["stones"],
                        budget=fields.get("budget"))
        except ValueError:
            spec = Spec(piece_type=fields["piece_type"], metal=fields["metal"], budget=fields.get("budget"))
    facts = understood(spec, sources, guessed_types, stones.guesses)
    return ParsedDescription(spec=spec, notes=notes, unplaced=t.unplaced(_STOPWORDS), facts=facts, details=details)


def _read_piece(t: Text) -> str | None:
    """The piece type the words name; one named as the thing wanted wins over one told of."""
    named = [(m.start(), piece, m.group()) for pattern, piece in _PIECES for m in t.find_all(pattern)]
    if not named:
        return None
    wanted = [piece for at, piece, _ in sorted(named) if _WANTED_PIECE.search(t.text[max(0, at - 60):at])]
    if wanted and len({p for _, p, _ in named}) > 1:
        return wanted[-1]
    # A word that is also a part of another piece ('a diamond drop' on a necklace, a
    # bracelet's chain) names the piece only when nothing else does.
    strong = {p for _, p, word in named if word not in _PART_WORDS}
    return next(piece for _, piece in _PIECES if piece in (strong or {p for _, p, _ in named}))


def _choose_metal(metal: measures.MetalReading, excluded: measures.Exclusions, notes: list[str],
                  sources: dict) -> str:
    if metal.metal and not excluded.excludes_metal(metal.metal):
        if metal.note:
            notes.append(metal.note)
        if metal.stated:
            sources["metal"] = ("stated", "")
        elif metal.karat_assumed:
            sources["metal"] = ("default", "karat not given")
        else:
            sources["metal"] = ("guessed", "colour not given" if "colour" in (metal.note or "") else "you named more than one")
        return metal.metal
    choice = next(m for m in _DEFAULT_METALS if not excluded.excludes_metal(m))
    label = catalog.METALS[choice].label
    if excluded.concepts & {"gold", "white_gold", "yellow_gold", "rose_gold", "platinum", "sterling"}:
        notes.append(f"You ruled a metal out; showing {label}. Change it in the materials panel.")
    else:
        notes.append(f"No metal mentioned; assumed {label}.")
    sources["metal"] = ("default", "no metal named")
    return choice


def _read_size(t: Text, fields: dict) -> None:
    """The ring size; when the words give more than one ('a 6 on her right hand but let's go
    with 5.5'), the last one said is the one meant."""
    matches = sorted(((m, system) for rx, system in _SIZE_PATTERNS for m in t.find_all(rx)),
                     key=lambda x: (x[0].start(), -len(x[0].group())))
    kept: list = []
    for m, system in matches:               # of overlapping readings, the fullest ('japanese size 11')
        if not any(m.start() < k.end() and k.start() < m.end() for k, _ in kept):
            kept.append((m, system))
    found = sorted(kept, key=lambda x: -x[0].start())
    for m, system in found:
        if any(t.used[m.start():m.end()]) or _their_size(t.text, m.start()):
            continue
        label = m.group(1).upper() + ("½" if m.lastindex and m.lastindex > 1 and m.group(2) else "") \
            if system == "uk" else m.group(1)
        actual = "eu" if system == "us" and float(label) >= 30 else system
        try:
            us = ring_sizes.to_us(actual, label)
        except ring_sizes.RingSizeError:
            continue
        if ring_sizes.ALLOWED_US[0] <= us <= ring_sizes.ALLOWED_US[1]:
            fields["ring_size"], fields["size_system"] = us, actual
            t.take(m)
            for other, _ in found:                 # the sizes it replaces are read, not unplaced
                if other is not m and not any(t.used[other.start():other.end()]):
                    t.take(other)
            return


def _their_size(text: str, at: int) -> bool:
    """Whether a size is said of a ring the customer or the wearer already has ('my
    grandmother's ring was size 4')."""
    start = max(text.rfind(c, 0, at) for c in ".!?;")
    return bool(re.search(r"\b(?:[a-z]+'s|my|her|his|their|old|other|current)\s+(?:[a-z]+\s+){0,2}(?:ring|band)\s+(?:was|is|were)\b",
                          text[start + 1:at]))


def _read_lengths(t: Text, fields: dict, piece: str) -> None:
    if m := t.find(_CHAIN_STYLE_RE):
        fields["chain_style"] = m.group(1)
        t.take(m)
    if piece not in ("pendant", "necklace", "bracelet") or "bracelet_length_mm" in fields:
        return
    for m in t.find_all(_LENGTH_RE):
        if re.search(r"\b(?:wrist|ankle|neck)\b[^,.;]{0,12}$", t.text[:m.start()]):
            continue                          # 'her wrist 16 cm': the wearer, not the piece
        if re.search(r"\b(?:current|old|existing|her|his|my)\s+(?:[a-z]+\s+){0,1}(?:chain|necklace|bracelet)\s+(?:is|was)\s+$",
                     t.text[max(0, m.start() - 40):m.start()]):
            continue                          # 'her current chain is 20 inch': the one she has
        inches, cm, mm = m.groups()
        length = round(float(inches) * 25.4) if inches else (int(cm) * 10 if cm else int(mm))
        key = "bracelet_length_mm" if piece == "bracelet" else "chain_length_mm"
        low, high = (140, 240) if piece == "bracelet" else (300, 1000)
        if low <= length <= high:
            fields[key] = length
            t.take(m)
            return


# What single words name, for reading a round's instruction (appliance.reader.instructions).

def named_metal(text: str) -> str | None:
    """The metal the words name, if any ('make it platinum' -> 'platinum')."""
    t = Text(correct_spelling(normalise(text))[0])
    excluded = measures.read_exclusions(t)
    metal = measures.read_metal(t).metal
    return None if metal is None or excluded.excludes_metal(metal) else metal


def named_finish(text: str) -> str | None:
    """The finish the words name, if any."""
    m = _FINISH_RE.search(normalise(text))
    return _FINISH_WORDS.get(m.group(1), m.group(1)) if m else None
