"""The deterministic text parser: a customer's words -> a Spec, plus what it assumed and
which words it could not place (so the studio can ask rather than guess).

It reads the catalog's vocabulary only; no model is involved, so the same words always
give the same spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance import catalog
from appliance.specs import Spec, StoneGroup, band_accent_count, halo_count


@dataclass
class ParsedDescription:
    spec: Spec
    notes: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)


_WORD_NUMBERS = {
    "a half": "0.5", "half a": "0.5", "one and a half": "1.5", "two and a half": "2.5",
    "three and a half": "3.5", "one and a quarter": "1.25", "a quarter": "0.25",
    "three quarter": "0.75", "three quarters": "0.75",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "a pair of": "", "pair of": "",
}

_STOPWORDS = set("""
a an the and with of on in for to my her his our their i we me want would like please
some around about approx approximately roughly maybe each it its that this is be made
set into at as very really nice beautiful pretty simple classic elegant style looking
lady ladies woman women man men gift custom design idea something piece jewelry love
gold carat carats ct mm stone stones band cut shaped shape sized size side plain
solid real genuine
""".split())

_METAL_PATTERNS = [
    (r"\b(10|14|18)\s*(?:k|kt|karat|carat)\s*(yellow|white|rose|pink|red)?\s*gold\b", None),
    (r"\b(yellow|white|rose|pink|red)\s*gold\b", None),
    (r"\b(?:platinum|plat|pt\s*950|pt950)\b", "platinum"),
    (r"\bpalladium\b", "palladium"),
    (r"\b(?:sterling\s+silver|sterling|silver|925)\b", "sterling"),
    (r"\bgold\b", "14k_yellow"),
]

_PIECES = [
    (r"\b(?:engagement\s+ring|wedding\s+band|wedding\s+ring|ring|band|solitaire)\b", "ring"),
    (r"\b(?:pendant|charm)\b", "pendant"),
    (r"\b(?:necklace|chain|choker)\b", "necklace"),
    (r"\b(?:earrings?|studs?|drops?|hoops?)\b", "earrings"),
    (r"\b(?:bracelet|bangle|cuff)\b", "bracelet"),
]

_STONE_WORDS = [
    (r"moissanites?", "moissanite"),
    (r"sapphires?", "sapphire"),
    (r"rub(?:y|ies)", "ruby"),
    (r"emeralds?(?!\s*cut)", "emerald"),
    (r"diamonds?", "diamond"),
    (r"(?:stones?|gems?|gemstones?)", None),
]
_STONE_RE = re.compile(r"\b(" + "|".join(p for p, _ in _STONE_WORDS) + r")\b")
_SHAPE_RE = re.compile(
    r"\b(round|brilliant|oval|princess|square|cushion|emerald\s*cut|emerald(?=\s+\w*\s*(?:diamond|moissanite|sapphire|ruby))|pear|teardrop|marquise|heart)\b"
)
_SHAPE_WORDS = {"brilliant": "round", "square": "princess", "teardrop": "pear"}
_LAB_RE = re.compile(r"\b(lab\s*(?:grown|created|made)?|man\s*made|synthetic|cvd|hpht)\b")
_NATURAL_RE = re.compile(r"\b(natural|mined|earth\s*mined)\b")
_CARAT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:carats?|cts?|ct\b|karats?\s+(?=diamond|stone|center|centre))")
_MM_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:x\s*(\d+(?:\.\d+)?)\s*)?mm\b")
_COUNT_RE = re.compile(r"(?<![\d.])(\d{1,3})\s+(?!carat|ct|mm|k\b)(?=(?:\w+\s+){0,3}?(?:" + "|".join(p for p, _ in _STONE_WORDS) + r")\b)")
_ACCENT_RE = re.compile(r"\b(tiny|small|little|micro|mini|pav[eé]|accents?|melee|on\s+the\s+band|along\s+the\s+band|band\s+of)\b")
_HALO_RE = re.compile(r"\bhalo\b")
_SIDE_RE = re.compile(r"\b(side\s+stones?|three\s*stone|3\s*stone|trilogy|either\s+side|flanked)\b")
_ETERNITY_RE = re.compile(r"\b(eternity|all\s+(?:the\s+way\s+)?around)\b")
_SIZE_RE = re.compile(r"\b(?:ring\s+)?size\s*(?:us\s*)?(\d{1,2}(?:\.\d+)?)\b|\b(?:us|eu)\s*(?:size\s*)?(\d{1,2}(?:\.\d+)?)\b")
_BAND_WIDTH_RE = re.compile(r"(\d+(?:\.\d+)?)\s*mm\s*(?:wide\s+)?(?:band|wide)")
_THIN_RE = re.compile(r"\b(thin|slim|delicate|dainty|skinny)\b")
_THICK_RE = re.compile(r"\b(thick|chunky|wide|bold|heavy)\b")
_FINISH_RE = re.compile(r"\b(matte|brushed|hammered|polished)\b")
_CHAIN_RE = re.compile(r"(\d{2})\s*(?:inch|in|\")\s*(?:chain|necklace)?|(\d{3})\s*mm\s*chain|(\d{2})\s*cm\s*(?:chain|necklace)?")
_SETTING_RE = re.compile(r"\b(bezel|prong|claw|channel)\b")


def _normalise(text: str) -> str:
    t = " " + text.lower().replace("\u00e9", "e") + " "
    t = re.sub(r"(?<=\d)\s*(ct|cts|carats?|mm|k|kt)\b", r" \1", t)
    t = re.sub(r"\b(\d+)\s+(\d)/(\d)\b", lambda m: f"{int(m[1]) + int(m[2]) / int(m[3]):g}", t)
    t = re.sub(r"\b(\d)/(\d)\b", lambda m: f"{int(m[1]) / int(m[2]):g}", t)
    t = re.sub(r"(\d+)\s+and\s+a\s+half\b", lambda m: f"{int(m[1]) + 0.5:g}", t)
    for words, number in sorted(_WORD_NUMBERS.items(), key=lambda kv: -len(kv[0])):
        t = re.sub(rf"\b{words}\b", number, t)
    t = t.replace("-", " ")
    return re.sub(r"\s+", " ", t)


class _Text:
    """The normalised text with the character spans the parser has already used."""

    def __init__(self, text: str):
        self.text = text
        self.used = [False] * len(text)

    def take(self, start: int, end: int) -> None:
        for i in range(start, end):
            self.used[i] = True

    def find(self, pattern, start: int = 0, end: int | None = None):
        """The first match in [start, end) that overlaps no span already used."""
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        for m in rx.finditer(self.text, start, len(self.text) if end is None else end):
            if not any(self.used[m.start():m.end()]):
                return m
        return None

    def unplaced(self) -> list[str]:
        words = []
        for m in re.finditer(r"[a-z0-9.']+", self.text):
            if not any(self.used[m.start():m.end()]):
                word = m.group().strip(".'")
                if word and word not in _STOPWORDS and not re.fullmatch(r"[\d.]+", word):
                    words.append(word)
        return words


def parse_description(description: str, piece_type: str | None = None) -> ParsedDescription:
    """Read a customer's description into a Spec.

    Returns the spec, notes on what was assumed (so the customer can check it), and the
    words no rule placed.
    """
    t = _Text(_normalise(description))
    notes: list[str] = []
    fields: dict = {}

    fields["metal"] = _metal(t, notes)
    parsed_piece = _first(t, _PIECES)
    fields["piece_type"] = piece_type or parsed_piece or "ring"
    if not piece_type and not parsed_piece:
        notes.append("No piece type mentioned; showing a ring.")

    if m := t.find(_SIZE_RE):
        value = float(m.group(1) or m.group(2))
        is_eu = m.group(2) is not None and "eu" in m.group(0) or value > 20
        size = catalog.us_size_from_eu(value) if is_eu else value
        fields["ring_size"] = min(max(round(size * 4) / 4, catalog.US_RING_SIZES[0]), catalog.US_RING_SIZES[1])
        t.take(m.start(), m.end())
    elif fields["piece_type"] == "ring":
        notes.append("No ring size given; assumed US 7. Change it in the materials panel.")

    if m := t.find(_BAND_WIDTH_RE):
        fields["band_width_mm"] = min(max(float(m.group(1)), 1.0), 12.0)
        t.take(m.start(), m.end())
    elif m := t.find(r"\b(?:thin|slim|delicate|dainty|skinny)\s+(?:band|shank|chain)\b"):
        fields["band_width_mm"] = 1.6
        t.take(m.start(), m.end())
    elif m := t.find(r"\b(?:thick|chunky|wide|bold|heavy)\s+(?:band|shank)\b"):
        fields["band_width_mm"] = 4.0
        fields["band_thickness_mm"] = 2.0
        t.take(m.start(), m.end())

    if m := t.find(_FINISH_RE):
        fields["finish"] = m.group(1)
        t.take(m.start(), m.end())
    if m := t.find(_CHAIN_RE):
        if m.group(1):
            fields["chain_length_mm"] = round(float(m.group(1)) * 25.4)
        elif m.group(2):
            fields["chain_length_mm"] = int(m.group(2))
        else:
            fields["chain_length_mm"] = int(m.group(3)) * 10
        t.take(m.start(), m.end())

    ring_size = fields.get("ring_size", 7.0)
    fields["stones"] = _stones(t, notes, ring_size, fields)
    try:
        spec = Spec(**fields)
    except ValueError:
        # A combination the parser produced but the spec refuses (say, a chain too
        # short): keep what is certain and let the customer adjust the rest.
        notes.append("Some details could not be combined; please check the materials panel.")
        spec = Spec(piece_type=fields["piece_type"], metal=fields["metal"], stones=fields["stones"])
    return ParsedDescription(spec=spec, notes=notes, unplaced=t.unplaced())


def _first(t: _Text, patterns) -> str | None:
    for pattern, value in patterns:
        if t.find(pattern):
            for m in re.finditer(pattern, t.text):
                t.take(m.start(), m.end())
            return value
    return None


def _metal(t: _Text, notes: list[str]) -> str:
    for pattern, fixed in _METAL_PATTERNS:
        m = t.find(pattern)
        if not m:
            continue
        t.take(m.start(), m.end())
        if fixed:
            return fixed
        groups = [g for g in m.groups() if g]
        karat = next((g for g in groups if g.isdigit()), None)
        colour = next((g for g in groups if not g.isdigit()), "yellow")
        colour = {"pink": "rose", "red": "rose"}.get(colour, colour)
        if karat is None:
            karat = "14"
            notes.append(f"Gold purity not given; assumed 14k {colour} gold.")
        return f"{karat}k_{colour}"
    notes.append("No metal mentioned; assumed 14k yellow gold.")
    return "14k_yellow"


def _clauses(text: str) -> list[tuple[int, int]]:
    """Spans between commas, 'with', 'and', 'plus': each usually names one stone group."""
    spans, start = [], 0
    for m in re.finditer(r",|;|\bwith\b|\band\b|\bplus\b|\bset with\b", text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _stones(t: _Text, notes: list[str], ring_size: float, fields: dict) -> list[StoneGroup]:
    groups: list[StoneGroup] = []
    eternity = False
    if m := t.find(_ETERNITY_RE):
        eternity = True
        t.take(m.start(), m.end())
    three_stone = None
    if m := t.find(r"\b(?:3\s*stones?|trilogy)\b"):
        three_stone = True
        t.take(m.start(), m.end())
    for start, end in _clauses(t.text):
        m = t.find(_STONE_RE, start, end)
        if not m:
            if (h := t.find(_HALO_RE, start, end)) and not any(g.role == "accent" for g in groups):
                t.take(h.start(), h.end())
                groups.append(_accent_group("diamond", "halo"))
            continue
        t.take(m.start(), m.end())
        stone_type = next((v for p, v in _STONE_WORDS if re.fullmatch(p, m.group(1))), None) or "diamond"
        if stone_type == "diamond" and (lab := t.find(_LAB_RE, start, end)):
            stone_type = "lab_diamond"
            t.take(lab.start(), lab.end())
        elif nat := t.find(_NATURAL_RE, start, end):
            t.take(nat.start(), nat.end())
        shape = "round"
        if sm := t.find(_SHAPE_RE, start, end):
            word = re.sub(r"\s+", " ", sm.group(1))
            shape = "emerald" if word.startswith("emerald") else _SHAPE_WORDS.get(word, word)
            t.take(sm.start(), sm.end())
        setting = None
        if st := t.find(_SETTING_RE, start, end):
            setting = {"claw": "prong"}.get(st.group(1), st.group(1))
            t.take(st.start(), st.end())

        clause = t.text[start:end]
        is_halo = bool(t.find(_HALO_RE, start, end))
        is_accent = bool(t.find(_ACCENT_RE, start, end)) or is_halo
        is_side = bool(t.find(_SIDE_RE, start, end))
        for rx in (_HALO_RE, _ACCENT_RE, _SIDE_RE):
            for a in rx.finditer(t.text, start, end):
                t.take(a.start(), a.end())

        has_center = any(g.role == "center" for g in groups)
        if is_accent or (has_center and not is_side and not _CARAT_RE.search(clause) and not _MM_RE.search(clause)):
            if any(g.role == "accent" for g in groups):
                continue
            group = _accent_group(stone_type, "halo" if is_halo else "band", setting)
            groups.append(group)
            continue

        length = width = None
        if c := t.find(_CARAT_RE, start, end):
            length, width = catalog.stone_size_for_carat(stone_type, shape, float(c.group(1)))
            t.take(c.start(), c.end())
        elif mm := t.find(_MM_RE, start, end):
            length = float(mm.group(1))
            width = float(mm.group(2)) if mm.group(2) else (
                length if shape == "round" else round(length / catalog.SHAPES[shape].ratio, 2))
            length, width = max(length, width), min(length, width)
            t.take(mm.start(), mm.end())
        count = 1
        if cm := t.find(_COUNT_RE, start, end):
            count = int(cm.group(1))
            t.take(cm.start(), cm.end())
        if eternity and length is not None and length <= 3.5 and not any(g.role == "accent" for g in groups):
            groups.append(StoneGroup(role="accent", type=stone_type, shape=shape, length_mm=length,
                                     width_mm=width, count=1, setting=setting or "pave"))
            continue
        if is_side or has_center:
            center = next((g for g in groups if g.role == "center"), None)
            if length is None:
                base = center.width_mm if center else 6.5
                length = width = round(base * 0.65, 2)
            groups.append(StoneGroup(role="side", type=stone_type, shape=shape, length_mm=length,
                                     width_mm=width, count=count if count > 1 else 2,
                                     setting=setting or "prong"))
            continue
        if length is None:
            length, width = catalog.stone_size_for_carat(stone_type, shape, 1.0)
            notes.append(f"No size given for the {catalog.STONE_TYPES[stone_type].label}; assumed about 1 carat.")
        groups.append(StoneGroup(role="center", type=stone_type, shape=shape, length_mm=length,
                                 width_mm=width, count=count, setting=setting or "prong"))

    # Accent counts depend on the finished centre stone and ring size, so fill them last.
    center = next((g for g in groups if g.role == "center"), None)
    if three_stone and center is not None and not any(g.role == "side" for g in groups):
        groups.append(StoneGroup(role="side", type=center.type, shape=center.shape,
                                 length_mm=round(center.length_mm * 0.65, 2),
                                 width_mm=round(center.width_mm * 0.65, 2), count=2, setting=center.setting))
    sized = []
    for g in groups:
        if g.role == "accent" and g.setting == "halo" and center is not None:
            g = g.model_copy(update={"count": halo_count(center, g.length_mm)})
        elif g.role == "accent" and g.setting != "halo":
            if fields.get("piece_type", "ring") == "ring":
                g = g.model_copy(update={"count": band_accent_count(ring_size, g.length_mm, eternity)})
            else:
                g = g.model_copy(update={"count": 12})
        sized.append(g)
    if eternity and not any(g.role == "accent" for g in sized) and fields.get("piece_type") == "ring":
        sized.append(_accent_group("diamond", "band").model_copy(
            update={"length_mm": 2.5, "width_mm": 2.5, "count": band_accent_count(ring_size, 2.5, True)}))
    return sized


def _accent_group(stone_type: str, where: str, setting: str | None = None) -> StoneGroup:
    return StoneGroup(role="accent", type=stone_type, shape="round", length_mm=1.3, width_mm=1.3,
                      count=1, setting="halo" if where == "halo" else (setting or "pave"))



# What single words name, for reading a round's instruction (appliance.instructions).

def named_metal(text: str) -> str | None:
    """The metal the words name, if any ('make it platinum' -> 'platinum')."""
    t = _Text(_normalise(text))
    if not any(t.find(pattern) for pattern, _ in _METAL_PATTERNS):
        return None
    return _metal(t, [])


def named_stone_type(text: str) -> str | None:
    """The stone type the words name, if any; lab-grown when they say so."""
    t = _normalise(text)
    m = _STONE_RE.search(t)
    if not m:
        return None
    stone = next((v for p, v in _STONE_WORDS if re.fullmatch(p, m.group(1))), None)
    return "lab_diamond" if stone == "diamond" and _LAB_RE.search(t) else stone


def named_shape(text: str) -> str | None:
    """The stone shape the words name, if any."""
    m = _SHAPE_RE.search(_normalise(text))
    if not m:
        return None
    word = re.sub(r"\s+", " ", m.group(1))
    return "emerald" if word.startswith("emerald") else _SHAPE_WORDS.get(word, word)


def named_finish(text: str) -> str | None:
    """The finish the words name, if any."""
    m = _FINISH_RE.search(_normalise(text))
    return m.group(1) if m else None


def mentions_accents(text: str) -> bool:
    """Whether the words are about small accent stones rather than the centre stone."""
    return bool(_ACCENT_RE.search(_normalise(text)))


def accent_group(where: str) -> StoneGroup:
    """A group of small round diamonds for a halo or along the band (count filled later)."""
    return _accent_group("diamond", where)
