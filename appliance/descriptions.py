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

from appliance import catalog, ring_sizes
from appliance.specs import Spec, StoneGroup, band_accent_count, halo_count


@dataclass
class ParsedDescription:
    spec: Spec
    notes: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)


_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20}

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

_STONE_WORDS = [
    (r"moissanites?", "moissanite"),
    (r"(?:blue\s+)?sapphires?", "sapphire"),
    (r"rub(?:y|ies)", "ruby"),
    (r"emeralds?(?!\s*cut)", "emerald"),
    (r"aquamarines?|aqua", "aquamarine"),
    (r"morganites?", "morganite"),
    (r"amethysts?", "amethyst"),
    (r"(?:blue\s+)?topaz(?:es)?", "topaz"),
    (r"tanzanites?", "tanzanite"),
    (r"garnets?", "garnet"),
    (r"pearls?", "pearl"),
    (r"diamonds?|baguettes?", "diamond"),
    (r"(?:stones?|gems?|gemstones?)", None),
]
_STONE_RE = re.compile(r"\b(" + "|".join(p for p, _ in _STONE_WORDS) + r")\b")
_SHAPE_RE = re.compile(r"\b(round|brilliant|oval|princess|square|cushion|emerald\s*cut|asscher|radiant|pear|"
                       r"teardrop|marquise|heart)\b")
_SHAPE_WORDS = {"brilliant": "round", "square": "princess", "teardrop": "pear"}
_LAB_RE = re.compile(r"\b(lab\s*(?:grown|created|made)?|man\s*made|synthetic|cvd|hpht)\b")
_NATURAL_RE = re.compile(r"\b(natural|mined|earth\s*mined)\b")
_CARAT_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:carats?|cts?\b|ct\b|ctw\b|tw\b)")
_MM_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:x\s*(\d+(?:\.\d+)?)\s*)?mm\b")
_COUNT_RE = re.compile(r"(?<![\d.])(\d{1,3})\s+(?!carat|ct|mm|k\b|prong|inch|cm)(?=(?:[\w.]+\s+){0,4}?(?:"
                       + "|".join(p for p, _ in _STONE_WORDS) + r")\b)")
_ACCENT_RE = re.compile(r"\b(tiny|small|little|micro|mini|pave|accents?|melee|band\s+of)\b")
_ON_BAND_RE = re.compile(r"\b(?:on|along|around|down|in)\s+the\s+(?:band|shank|sides?)\b")
_HALO_RE = re.compile(r"\bhalo\b")
_SIDE_RE = re.compile(r"\b(side\s+stones?|either\s+side|each\s+side|flanked|flanking)\b")
_TOTAL_RE = re.compile(r"\b(total|ctw|tw|in\s+total|total\s+weight)\b")
_EACH_RE = re.compile(r"\beach\b")
_SETTING_RE = re.compile(r"\b(?:\d\s+)?(bezel|prong|claw|channel|tension|bar)\b(?:\s+set(?:ting)?)?")
_SIZE_PATTERNS = [
    (re.compile(r"\b(?:size\s*)?uk\s*(?:size\s*)?([a-z])(?:\s*(0\.5))?\b"), "uk"),
    (re.compile(r"\b(?:size\s*)?(?:jp|japan(?:ese)?)\s*(?:size\s*)?(\d{1,2})\b"), "jp"),
    (re.compile(r"\b(?:size\s*)?eu\s*(?:size\s*)?(\d{2}(?:\.5)?)\b"), "eu"),
    (re.compile(r"\b(?:size\s*)?us\s*(?:size\s*)?(\d{1,2}(?:\.\d+)?)\b"), "us"),
    (re.compile(r"\b(?:ring\s+)?size\s*(\d{1,2}(?:\.\d+)?)\b"), "us"),
    (re.compile(r"\b(?:ring\s+)?size\s+([d-z])(?:\s*(0\.5))?\b"), "uk"),
]
_BAND_MM_RE = re.compile(r"\b(?:band\s*)?(\d+(?:\.\d+)?)\s*mm\b(?:\s*wide)?")
_THIN_RE = re.compile(r"\b(thin|slim|skinny|delicate|dainty|fine)\b(?=(?:\s+[\w.]+){0,4}\s+(band|shank|ring|chain)\b)")
_THICK_RE = re.compile(r"\b(thick|chunky|wide|bold|heavy)\b(?=(?:\s+[\w.]+){0,4}\s+(band|shank|ring)\b)")
_FINISH_RE = re.compile(r"\b(matte|brushed|satin|hammered|polished|high\s+polish)\b")
_PROFILE_RE = re.compile(r"\b(comfort|court|flat|d\s*shape)(?:\s+(?:fit|profile))?\b")
_LENGTH_RE = re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d+)?)\s*inch\b|(?<![\d.])(\d{2})\s*cm\b|(?<![\d.])(\d{3})\s*mm\b")
_CHAIN_STYLE_RE = re.compile(r"\b(cable|box|rope|curb|figaro|snake)\b(?=\s+(?:chain|style|link))(?:\s+style)?")


def _normalise(text: str) -> str:
    t = " " + text.lower().replace("\u00e9", "e").replace("½", " 1/2").replace("¼", " 1/4").replace("¾", " 3/4") + " "
    t = t.replace('"', " inch ").replace("”", " inch ")
    t = re.sub(r"\bsz\b\.?", "size", t)
    t = re.sub(r"(?<=\d)\s*kt\b", "k", t)
    t = re.sub(r"\binches\b", "inch", t)
    for word, number in _NUMBER_WORDS.items():
        t = re.sub(rf"\b{word}\b", str(number), t)
    t = re.sub(r"\b(\d+)\s+and\s+a\s+half\b", lambda m: f"{int(m[1]) + 0.5:g}", t)
    t = re.sub(r"\b(\d+)\s+and\s+a\s+quarter\b", lambda m: f"{int(m[1]) + 0.25:g}", t)
    t = re.sub(r"\b(\d+)\s+(\d)/(\d)\b", lambda m: f"{int(m[1]) + int(m[2]) / int(m[3]):g}", t)
    t = re.sub(r"\b(\d)/(\d)\b", lambda m: f"{int(m[1]) / int(m[2]):g}", t)
    t = re.sub(r"\b(?:a\s+half|half\s+a)\b", "0.5", t)
    t = re.sub(r"\bthree\s+quarters?\s+(?:of\s+a\s+)?", "0.75 ", t)
    t = re.sub(r"\ba\s+quarter\b", "0.25", t)
    t = re.sub(r"(?<=\d)\s*(cts?|carats?|mm|cm|k|in|inch)\b", r" \1", t)
    t = re.sub(r"(?<=\d) in\b", " inch", t)
    t = re.sub(r"(?<=[a-z])[-:](?=[a-z ])|(?<=\s)-(?=\s)|-", " ", t)
    return re.sub(r"\s+", " ", t)


class _Text:
    """The normalised text with the character spans the parser has already used."""

    def __init__(self, text: str):
        self.text = text
        self.used = [False] * len(text)

    def take(self, m) -> None:
        for i in range(m.start(), m.end()):
            self.used[i] = True

    def find(self, pattern, start: int = 0, end: int | None = None):
        """The first match in [start, end) that overlaps no span already used."""
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        for m in rx.finditer(self.text, start, len(self.text) if end is None else end):
            if not any(self.used[m.start():m.end()]):
                return m
        return None

    def take_all(self, pattern, start: int = 0, end: int | None = None) -> bool:
        """Use every free match; whether there was one."""
        found = False
        while m := self.find(pattern, start, end):
            self.take(m)
            found = True
        return found

    def unplaced(self) -> list[str]:
        words = []
        for m in re.finditer(r"[a-z0-9.']+", self.text):
            if not any(self.used[m.start():m.end()]):
                word = m.group().strip(".'")
                if word and word not in _STOPWORDS and not re.fullmatch(r"[\d.]+|\d+k?", word):
                    words.append(word)
        return words


@dataclass
class _Group:
    """A stone group while it is being read; `sized` once a size was given for it."""
    type: str
    role: str | None = None
    shape: str = "round"
    length: float | None = None
    width: float | None = None
    count: int | None = None
    setting: str | None = None
    carat: float | None = None
    total_carat: float | None = None

    @property
    def sized(self) -> bool:
        return self.length is not None or self.total_carat is not None


def parse_description(description: str, piece_type: str | None = None) -> ParsedDescription:
    """Read a customer's description into a Spec.

    Returns the spec, notes on what was assumed (so the customer can check it), and the
    words no rule placed.
    """
    t = _Text(_normalise(description))
    notes: list[str] = []
    fields: dict = {}

    _read_size(t, fields)
    fields["metal"] = _metal(t, notes)
    on_band = [m.span() for m in _ON_BAND_RE.finditer(t.text)]
    for m in _ON_BAND_RE.finditer(t.text):
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

    groups = _read_stones(t, fields, on_band)
    fields["stones"] = _finish_groups(groups, fields, notes)
    try:
        spec = Spec(**fields)
    except ValueError:
        # A combination the parser produced but the spec refuses: keep what is certain
        # and let the customer adjust the rest in the materials panel.
        notes.append("Some details could not be combined; please check the materials panel.")
        spec = Spec(piece_type=fields["piece_type"], metal=fields["metal"], stones=fields["stones"])
    return ParsedDescription(spec=spec, notes=notes, unplaced=t.unplaced())


def _read_size(t: _Text, fields: dict) -> None:
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


def _metal(t: _Text, notes: list[str]) -> str:
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


def _read_lengths(t: _Text, fields: dict, piece: str) -> None:
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


def _clauses(text: str) -> list[tuple[int, int]]:
    """Spans between commas, colons, 'with', 'and', 'plus': each names one stone group."""
    spans, start = [], 0
    for m in re.finditer(r",|;|:|\bwith\b|\band\b|\bplus\b|\bset with\b", text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _stone_type(word: str) -> str | None:
    return next((v for p, v in _STONE_WORDS if re.fullmatch(p, word)), None)


def _read_stones(t: _Text, fields: dict, on_band: list[tuple[int, int]]) -> list[_Group]:
    groups: list[_Group] = []
    last: _Group | None = None
    for start, end in _clauses(t.text):
        m = t.find(_STONE_RE, start, end)
        accent_word = t.find(_ACCENT_RE, start, end)
        plural = bool(m and re.search(r"(?<!s)s$|ies$", m.group(1)))
        # "tiny diamonds on the band" are accents; "a tiny 3 mm emerald" is one small stone.
        accentish = any(start <= a < end for a, _ in on_band) or bool(
            accent_word and (plural or m is None or accent_word.group(1) in ("pave", "micro", "melee", "accent", "accents")))
        halo = t.find(_HALO_RE, start, end)
        side = t.find(_SIDE_RE, start, end)
        size = _read_group_size(t, start, end)
        setting = t.find(_SETTING_RE, start, end)
        count = t.find(_COUNT_RE, start, end)
        shape = t.find(_SHAPE_RE, start, end)
        if m is None:
            # No stone named: a size, shape or setting for the group before, a halo, or a band width.
            if halo:
                t.take(halo)
                groups.append(_Group("diamond", role="accent", setting="halo"))
            elif accentish and not any(g.role == "accent" for g in groups):
                t.take_all(_ACCENT_RE, start, end)
                groups.append(_Group("diamond", role="accent"))
            elif last is not None and (size or setting or shape):
                _apply(t, last, size, setting, shape, None)
            elif size and size[0] == "mm" and fields["piece_type"] in ("ring", "bracelet", "earrings"):
                fields["band_width_mm"] = min(max(size[1], 1.0), 12.0)
                t.take(size[3])
            continue
        stone_type = _stone_type(re.sub(r"\s+", " ", m.group(1))) or (last.type if last else "diamond")
        t.take(m)
        t.take_all(rf"\b{m.group(1)}\b", start, end)
        if stone_type == "diamond" and (lab := t.find(_LAB_RE, start, end)):
            stone_type = "lab_diamond"
            t.take(lab)
        elif nat := t.find(_NATURAL_RE, start, end):
            t.take(nat)
        role = "accent" if accentish else ("side" if side else None)
        for found in (halo, side):
            if found:
                t.take(found)
        t.take_all(_ACCENT_RE, start, end)
        if halo and not size:
            role = "accent"
        # A later, fuller mention of a stone already named ("pearl pendant, 8 mm pearl").
        pending = next((g for g in groups if not g.sized and g.type == stone_type and g.role is None), None)
        group = pending or _Group(stone_type)
        if not pending:
            groups.append(group)
        group.role = role or group.role
        if group.role is None and setting and setting.group(1) in ("channel",):
            group.role = "accent"
        if halo and size:
            groups.append(_Group("diamond", role="accent", setting="halo"))
        if halo and role == "accent":
            group.setting = "halo"
        _apply(t, group, size, setting, shape, count)
        last = group
    return groups


def _read_group_size(t: _Text, start: int, end: int):
    """('carat', value, is_total, match) or ('mm', length, width, match) or None."""
    if c := t.find(_CARAT_RE, start, end):
        total = bool(re.search(r"ctw|tw|total", c.group(0))) or bool(_TOTAL_RE.search(t.text, start, end))
        return ("carat", float(c.group(1)), total, c)
    if mm := t.find(_MM_RE, start, end):
        return ("mm", float(mm.group(1)), float(mm.group(2)) if mm.group(2) else None, mm)
    return None


def _apply(t: _Text, group: _Group, size, setting, shape, count) -> None:
    if shape:
        word = re.sub(r"\s+", " ", shape.group(1))
        group.shape = "emerald" if word.startswith("emerald") else _SHAPE_WORDS.get(word, word)
        t.take(shape)
    if setting:
        group.setting = {"claw": "prong"}.get(setting.group(1), setting.group(1))
        t.take(setting)
    if count:
        group.count = int(count.group(1))
        t.take(count)
    if size:
        if size[0] == "carat" and size[2]:
            group.total_carat = size[1]
        elif size[0] == "carat":
            group.length, group.width = catalog.stone_size_for_carat(group.type, group.shape, size[1]) \
                if not catalog.STONE_TYPES[group.type].by_piece else (7.0, 7.0)
            group.carat = size[1]
        else:
            length, width = size[1], size[2]
            if width is None:
                width = length if group.shape in ("round", "princess", "asscher", "heart", "cushion") \
                    else round(length / catalog.SHAPES[group.shape].ratio, 2)
            group.length, group.width = max(length, width), min(length, width)
        t.take(size[3])
        t.take_all(_TOTAL_RE)
        t.take_all(_EACH_RE)


def _finish_groups(groups: list[_Group], fields: dict, notes: list[str]) -> list[StoneGroup]:
    style = fields.get("style")
    row_style = style in ("eternity", "tennis", "riviera", "hoop")
    # Carat sizes were computed for the shape known at the time; recompute for the final shape.
    for g in groups:
        if g.carat and not catalog.STONE_TYPES[g.type].by_piece:
            g.length, g.width = catalog.stone_size_for_carat(g.type, g.shape, g.carat)
    center_taken = any(g.role == "center" for g in groups)
    for g in groups:
        if g.role is not None:
            continue
        if row_style or (g.count or 1) > 1 and not style == "three_stone":
            g.role = "accent" if row_style else "side"
        elif not center_taken:
            g.role, center_taken = "center", True
        else:
            g.role = "side"
    center = next((g for g in groups if g.role == "center"), None)
    if center and center.count and center.count == 3 and style == "three_stone":
        center.count = 1
        groups.append(_Group(center.type, role="side", shape=center.shape, length=center.length,
                             width=center.width, count=2, setting=center.setting))
    if center and not center.sized:
        center.length, center.width = (7.0, 7.0) if catalog.STONE_TYPES[center.type].by_piece else \
            catalog.stone_size_for_carat(center.type, center.shape, 1.0)
        label = catalog.STONE_TYPES[center.type].label
        notes.append(f"No size given for the {label}; assumed " +
                     ("7 mm." if catalog.STONE_TYPES[center.type].by_piece else "about 1 carat."))
    if style == "three_stone" and center and not any(g.role == "side" for g in groups):
        groups.append(_Group(center.type, role="side", shape=center.shape, count=2))
    # Stones set in the band need a wall either side: an unstated band width follows them.
    band_stones = [g.length for g in groups if g.role == "accent" and g.setting != "halo" and g.length]
    if fields["piece_type"] == "ring" and band_stones and "band_width_mm" not in fields:
        fields["band_width_mm"] = round(max(2.0, max(band_stones) + 0.8), 1)
    out = [_stone_group(g, center, fields, style) for g in groups]
    order = {"center": 0, "side": 1, "accent": 2}
    return sorted(out, key=lambda g: order[g.role])


def _stone_group(g: _Group, center: _Group | None, fields: dict, style: str | None) -> StoneGroup:
    piece = fields["piece_type"]
    if g.role == "side" and g.length is None:
        base = center.width if center and center.width else 6.5
        g.length = g.width = round(base * 0.65, 2)
    if g.length is None:
        default = {"eternity": 2.5, "tennis": 2.5, "riviera": 3.0, "hoop": 1.5}.get(style, 1.3)
        g.length = g.width = default
    setting = g.setting or ("pave" if g.role == "accent" and piece == "ring" else "prong")
    group = StoneGroup(role=g.role, type=g.type, shape=g.shape, length_mm=g.length, width_mm=g.width or g.length,
                       count=g.count or (2 if g.role == "side" else 1), setting=setting)
    if g.role != "accent" or g.count:
        return group
    if g.total_carat:
        # The size that gives the stated total at the count the piece holds.
        for _ in range(30):
            n = _accent_count(group, center, fields, style)
            d = (g.total_carat / n / catalog.stone_carat(g.type, "round", 1.0, 1.0)) ** (1 / 3)
            group = group.model_copy(update={"length_mm": round(max(d, 0.8), 2), "width_mm": round(max(d, 0.8), 2)})
    return group.model_copy(update={"count": _accent_count(group, center, fields, style)})


def _accent_count(group: StoneGroup, center: _Group | None, fields: dict, style: str | None) -> int:
    d = group.length_mm
    piece = fields["piece_type"]
    if group.setting == "halo" and center is not None and center.length:
        return halo_count(StoneGroup(length_mm=center.length, width_mm=center.width or center.length,
                                     shape=center.shape, type=center.type), d)
    if piece == "ring":
        return band_accent_count(fields.get("ring_size", 7.0), d, style == "eternity",
                                 fields.get("band_width_mm", 2.0))
    if piece == "bracelet":
        return max(1, int(fields.get("bracelet_length_mm", 180) // (d + 0.3)))
    if piece == "necklace" and style == "riviera":
        return max(1, int(fields.get("chain_length_mm", 450) // (d + 0.4)))
    return 12


# What single words name, for reading a round's instruction (appliance.instructions).

def named_metal(text: str) -> str | None:
    """The metal the words name, if any ('make it platinum' -> 'platinum')."""
    t = _Text(_normalise(text))
    if not any(t.find(pattern) for pattern, _ in _METALS):
        return None
    return _metal(t, [])


def named_stone_type(text: str) -> str | None:
    """The stone type the words name, if any; lab-grown when they say so."""
    t = _normalise(text)
    m = _STONE_RE.search(t)
    if not m:
        return None
    stone = _stone_type(re.sub(r"\s+", " ", m.group(1)))
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
    return {"satin": "brushed", "high polish": "polished"}.get(m.group(1), m.group(1)) if m else None


def mentions_accents(text: str) -> bool:
    """Whether the words are about small accent stones rather than the centre stone."""
    return bool(_ACCENT_RE.search(_normalise(text)))


def accent_group(where: str) -> StoneGroup:
    """A group of small round diamonds for a halo or along the band (count filled later)."""
    return StoneGroup(role="accent", type="diamond", shape="round", length_mm=1.3, width_mm=1.3, count=1,
                      setting="halo" if where == "halo" else "pave")
