"""Stone groups as customers describe them: each clause of a description (split at
commas, "with", "and") is read for one group — type, shape, size in carats or mm, count,
setting, and whether it is the centre stone, side stones or accents — and the groups are
then completed (default sizes, three-stone sides, accent counts from the band, halo or
line they fill)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.jewelry import catalog
from appliance.jewelry.specs import StoneGroup, band_accent_count, halo_count
from appliance.reader.reading import Text, normalise

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
ON_BAND_RE = re.compile(r"\b(?:on|along|around|down|in)\s+the\s+(?:band|shank|sides?)\b")
_HALO_RE = re.compile(r"\bhalo\b")
_SIDE_RE = re.compile(r"\b(side\s+stones?|either\s+side|each\s+side|flanked|flanking)\b")
_TOTAL_RE = re.compile(r"\b(total|ctw|tw|in\s+total|total\s+weight)\b")
_EACH_RE = re.compile(r"\beach\b")
_SETTING_RE = re.compile(r"\b(?:\d\s+)?(bezel|prong|claw|channel|tension|bar)\b(?:\s+set(?:ting)?)?")


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


def read_stones(t: Text, fields: dict, on_band: list[tuple[int, int]]) -> list[_Group]:
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


def _read_group_size(t: Text, start: int, end: int):
    """('carat', value, is_total, match) or ('mm', length, width, match) or None."""
    if c := t.find(_CARAT_RE, start, end):
        total = bool(re.search(r"ctw|tw|total", c.group(0))) or bool(_TOTAL_RE.search(t.text, start, end))
        return ("carat", float(c.group(1)), total, c)
    if mm := t.find(_MM_RE, start, end):
        return ("mm", float(mm.group(1)), float(mm.group(2)) if mm.group(2) else None, mm)
    return None


def _apply(t: Text, group: _Group, size, setting, shape, count) -> None:
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


def finish_groups(groups: list[_Group], fields: dict, notes: list[str]) -> list[StoneGroup]:
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


def named_stone_type(text: str) -> str | None:
    """The stone type the words name, if any; lab-grown when they say so."""
    t = normalise(text)
    m = _STONE_RE.search(t)
    if not m:
        return None
    stone = _stone_type(re.sub(r"\s+", " ", m.group(1)))
    return "lab_diamond" if stone == "diamond" and _LAB_RE.search(t) else stone


def named_shape(text: str) -> str | None:
    """The stone shape the words name, if any."""
    m = _SHAPE_RE.search(normalise(text))
    if not m:
        return None
    word = re.sub(r"\s+", " ", m.group(1))
    return "emerald" if word.startswith("emerald") else _SHAPE_WORDS.get(word, word)


def mentions_accents(text: str) -> bool:
    """Whether the words are about small accent stones rather than the centre stone."""
    return bool(_ACCENT_RE.search(normalise(text)))


def accent_group(where: str) -> StoneGroup:
    """A group of small round diamonds for a halo or along the band (count filled later)."""
    return StoneGroup(role="accent", type="diamond", shape="round", length_mm=1.3, width_mm=1.3, count=1,
                      setting="halo" if where == "halo" else "pave")
