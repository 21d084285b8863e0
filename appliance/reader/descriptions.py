"""The deterministic text parser: a customer's words -> a Spec, plus what it assumed and
which words it could not place (so the studio can ask rather than guess).

It reads the catalog's vocabulary only; no model is involved, so the same words always
give the same spec. The text is normalised (number words, fractions, units), split into
clauses at commas, "with" and "and", and each clause is read for one stone group; the
rest (metal, piece, size, chain, finish) is read from the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.jewelry import ring_sizes
from appliance.jewelry.specs import Spec
from appliance.reader.reading import Text, normalise
from appliance.reader.stone_phrases import ON_BAND_RE, finish_groups, read_stones


@dataclass
class ParsedDescription:
    spec: Spec
    notes: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)


_STOPWORDS = set("""
a an the and with of on in for to my her his our their i we me want would like please some around about
approx approximately roughly maybe each it its that this is be made set into at as very really nice
beautiful pretty simple classic elegant style styled looking lady ladies woman women man men men's women's
gift custom design idea something piece jewelry jewellery love gold carat carats ct mm stone stones cut
shaped shape sized size side plain solid real genuine husband wife fiance fiancee girlfriend boyfriend
partner mom mother daughter son him anniversary engagement wedding proposal fit profile setting row total
either natural mined looking just small tiny also or by from up inch inches cm chain
""".split())

_METALS = [
    (r"\b(10|14|18|22)\s*k(?:arat)?\s*(yellow|white|rose|pink|red)?(?:\s*gold)?\b", None),
    (r"\b(10|14|18)\s*(yg|wg|rg)\b", None),
    (r"\b(yellow|white|rose|pink|red)\s*gold\b", None),
    (r"\b(?:platinum|plat|pt\s*950)\b", "platinum"),
    (r"\bpalladium\b", "palladium"),
    (r"\b(?:sterling\s+silver|sterling|silver|925)\b", "sterling"),
    (r"\bgold\b", "14k_yellow"),
]
_COLOURS = {"pink": "rose", "red": "rose", "yg": "yellow", "wg": "white", "rg": "rose"}

_PIECES = [
    (r"\b(?:engagement\s+ring|wedding\s+band|wedding\s+ring|ring|band(?!\s+of)|shank)\b", "ring"),
    (r"\b(?:pendant|charm)\b", "pendant"),
    (r"\b(?:necklace|chain|choker)\b", "necklace"),
    (r"\b(?:earrings?|studs?|drops?|hoops?)\b", "earrings"),
    (r"\b(?:bracelet|bangle|cuff)\b", "bracelet"),
]
_STYLE_WORDS = [
    (r"\bsolitaire\b", {"ring": "solitaire", "pendant": "solitaire", "necklace": "pendant"}),
    (r"\b(?:3\s*stones?|trilogy)\b", {"ring": "three_stone"}),
    (r"\b(?:eternity|all\s+(?:the\s+way\s+)?around)\b", {"ring": "eternity"}),
    (r"\bstuds?\b", {"earrings": "stud"}),
    (r"\b(?:drops?|dangles?)\b", {"earrings": "drop", "necklace": "pendant"}),
    (r"\bhoops?\b", {"earrings": "hoop"}),
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
    (re.compile(r"\b(?:ring\s+)?size\s*(\d{1,2}(?:\.\d+)?)\b"), "us"),
    (re.compile(r"\b(?:ring\s+)?size\s+([d-z])(?:\s*(0\.5))?\b"), "uk"),
]
_THIN_RE = re.compile(r"\b(thin|slim|skinny|delicate|dainty|fine)\b(?=(?:\s+[\w.]+){0,4}\s+(band|shank|ring|chain)\b)")
_THICK_RE = re.compile(r"\b(thick|chunky|wide|bold|heavy)\b(?=(?:\s+[\w.]+){0,4}\s+(band|shank|ring)\b)")
_FINISH_RE = re.compile(r"\b(matte|brushed|satin|hammered|polished|high\s+polish)\b")
_PROFILE_RE = re.compile(r"\b(comfort|court|flat|d\s*shape)(?:\s+(?:fit|profile))?\b")
_LENGTH_RE = re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d+)?)\s*inch\b|(?<![\d.])(\d{2})\s*cm\b|(?<![\d.])(\d{3})\s*mm\b")
_CHAIN_STYLE_RE = re.compile(r"\b(cable|box|rope|curb|figaro|snake)\b(?=\s+(?:chain|style|link))(?:\s+style)?")


def parse_description(description: str, piece_type: str | None = None) -> ParsedDescription:
    """Read a customer's description into a Spec.

    Returns the spec, notes on what was assumed (so the customer can check it), and the
    words no rule placed.
    """
    t = Text(normalise(description))
    notes: list[str] = []
    fields: dict = {}

    _read_size(t, fields)
    fields["metal"] = _metal(t, notes)
    on_band = [m.span() for m in ON_BAND_RE.finditer(t.text)]
    for m in ON_BAND_RE.finditer(t.text):
        t.take(m)
    parsed_piece = None
    for pattern, piece in _PIECES:
        if t.find(pattern):
            parsed_piece = piece
            break
    piece = piece_type or parsed_piece or "ring"
    fields["piece_type"] = piece
    for pattern, by_piece in _STYLE_WORDS:
        if piece in by_piece and t.take_all(pattern):
            fields.setdefault("style", by_piece[piece])
    if parsed_piece:
        t.take_all(next(p for p, v in _PIECES if v == parsed_piece))
    elif not piece_type and "style" not in fields:
        notes.append("No piece type mentioned; showing a ring.")
    if piece != "ring":
        fields.pop("ring_size", None)
        fields.pop("size_system", None)
    elif "ring_size" not in fields:
        notes.append("No ring size given; assumed US 7. Change it in the materials panel.")

    _read_lengths(t, fields, piece)
    if m := t.find(_FINISH_RE):
        fields["finish"] = {"satin": "brushed", "high polish": "polished"}.get(m.group(1), m.group(1))
        t.take(m)
    if m := t.find(_PROFILE_RE):
        fields["profile"] = "court" if m.group(1).startswith("d") else m.group(1)
        t.take(m)
    if m := t.find(_THIN_RE):
        fields["band_width_mm"] = 1.0 if m.group(2) == "chain" else 1.6
        t.take(m)
    elif m := t.find(_THICK_RE):
        fields["band_width_mm"], fields["band_thickness_mm"] = 4.0, 2.0
        t.take(m)

    groups = read_stones(t, fields, on_band)
    fields["stones"] = finish_groups(groups, fields, notes)
    try:
        spec = Spec(**fields)
    except ValueError:
        # A combination the parser produced but the spec refuses: keep what is certain
        # and let the customer adjust the rest in the materials panel.
        notes.append("Some details could not be combined; please check the materials panel.")
        spec = Spec(piece_type=fields["piece_type"], metal=fields["metal"], stones=fields["stones"])
    return ParsedDescription(spec=spec, notes=notes, unplaced=t.unplaced(_STOPWORDS))


def _read_size(t: Text, fields: dict) -> None:
    for rx, system in _SIZE_PATTERNS:
        m = t.find(rx)
        if not m:
            continue
        label = m.group(1).upper() + ("½" if m.lastindex and m.lastindex > 1 and m.group(2) else "") \
            if system == "uk" else m.group(1)
        if system == "us" and float(label) >= 30:
            system = "eu"
        try:
            us = ring_sizes.to_us(system, label)
        except ring_sizes.RingSizeError:
            continue
        if ring_sizes.ALLOWED_US[0] <= us <= ring_sizes.ALLOWED_US[1]:
            fields["ring_size"], fields["size_system"] = us, system
            t.take(m)
            return


def _metal(t: Text, notes: list[str]) -> str:
    for pattern, fixed in _METALS:
        m = t.find(pattern)
        if not m:
            continue
        t.take(m)
        if fixed:
            return fixed
        groups = [g for g in m.groups() if g]
        karat = next((g for g in groups if g.isdigit()), None)
        colour = _COLOURS.get(next((g for g in groups if not g.isdigit()), "yellow"),
                              next((g for g in groups if not g.isdigit()), "yellow"))
        if karat is None:
            karat = "14"
            notes.append(f"Gold purity not given; assumed 14k {colour} gold.")
        if karat == "22" and colour != "yellow":
            notes.append("22k gold comes in yellow; showing 22k yellow gold.")
            colour = "yellow"
        return f"{karat}k_{colour}"
    notes.append("No metal mentioned; assumed 14k yellow gold.")
    return "14k_yellow"


def _read_lengths(t: Text, fields: dict, piece: str) -> None:
    if m := t.find(_CHAIN_STYLE_RE):
        fields["chain_style"] = m.group(1)
        t.take(m)
    if piece not in ("pendant", "necklace", "bracelet"):
        return
    if m := t.find(_LENGTH_RE):
        inches, cm, mm = m.groups()
        length = round(float(inches) * 25.4) if inches else (int(cm) * 10 if cm else int(mm))
        fields["bracelet_length_mm" if piece == "bracelet" else "chain_length_mm"] = length
        t.take(m)


# What single words name, for reading a round's instruction (appliance.reader.instructions).

def named_metal(text: str) -> str | None:
    """The metal the words name, if any ('make it platinum' -> 'platinum')."""
    t = Text(normalise(text))
    if not any(t.find(pattern) for pattern, _ in _METALS):
        return None
    return _metal(t, [])


def named_finish(text: str) -> str | None:
    """The finish the words name, if any."""
    m = _FINISH_RE.search(normalise(text))
    return {"satin": "brushed", "high polish": "polished"}.get(m.group(1), m.group(1)) if m else None
