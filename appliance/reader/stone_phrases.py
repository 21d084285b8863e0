"""Stone groups as customers describe them: each clause of a description (split at
commas, "with", "and") is read for one group — type, shape, size in carats or mm, count,
setting, and whether it is the centre stone, side stones or accents — and the groups are
then completed (default sizes, three-stone sides, accent counts from the band, halo or
line they fill: appliance.reader.stone_groups). Stones named by colour or birth month are
read first, by appliance.reader.stone_names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.jewelry import catalog
from appliance.jewelry.specs import StoneGroup
from appliance.reader.measures import NEGATION_RE
from appliance.reader.reading import Text, correct_spelling, normalise

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
    (r"peridots?", "peridot"),
    (r"opals?", "opal"),
    (r"(?:pink\s+)?tourmalines?", "tourmaline"),
    (r"citrines?", "citrine"),
    (r"pearls?", "pearl"),
    (r"diamonds?|baguettes?", "diamond"),
    (r"(?:stones?|gems?|gemstones?|rounds|ovals|pears|cushions|marquises)", None),
]
_STONE_RE = re.compile(r"\b(" + "|".join(p for p, _ in _STONE_WORDS) + r")\b")
_SHAPE_RE = re.compile(r"\b(round|brilliant|oval|princess|square|cushion|emerald\s*cut|asscher|radiant|pear|"
                       r"teardrop|marquise|heart)(?:e?s)?\b")
_SHAPE_WORDS = {"brilliant": "round", "square": "princess", "teardrop": "pear"}
_LAB_RE = re.compile(r"\b(lab\s*(?:grown|created|made)?|man\s*made|synthetic|cvd|hpht)\b")
_NATURAL_RE = re.compile(r"\b(natural|mined|earth\s*mined)\b")
# A weight: '1.5 ct', '2 carats', '0.5ctw'; or a bare figure under 0.8 said 'each' ('about
# 0.10 each'), which can only be carats (no stone is set under 0.8 mm).
_CARAT_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:carats?|cts?\b|ct\b|ctw\b|tw\b)|(?<![\d.])(0?\.[1-7]\d*)\s+each\b")
_MM_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:x\s*(\d+(?:\.\d+)?)\s*)?mm\b")
# A count: a number before the stones it counts, with only words that describe them between
# ('5 round sapphires', 'three 0.5 carat diamonds', '20 tiny lab grown diamonds').
_DESCRIBING = (r"(?:small|smaller|tiny|little|larger|bigger|matching|identical|round|oval|princess|cushion|pear|"
               r"marquise|emerald|asscher|radiant|heart|baguette|brilliant|square|cut|shaped|lab|grown|created|natural|"
               r"mined|blue|pink|green|red|white|yellow|purple|deep|light|pale|dark|side|accent|pave|channel|set|"
               r"prong|bezel|equal|same|sized|size|carat|carats|ct|mm|x|of|the|each|\d+(?:\.\d+)?)")
_COUNT_RE = re.compile(r"(?<![\d.])(?<!size )(?<!x )(\d{1,3})\s+(?!x\b|carat|ct|mm|k\b|prong|inch|cm|tw)"
                       rf"(?=(?:{_DESCRIBING}\s+){{0,5}}?(?:" + "|".join(p for p, _ in _STONE_WORDS) + r")\b)")
_ACCENT_RE = re.compile(r"\b(tiny|small|little|micro|mini|pave|accents?|melee|band\s+of)\b")
ON_BAND_RE = re.compile(r"\b(?:on|along|around|down|in|across)\s+the\s+(?:band|shank|shoulders?)\b|\bset\s+shoulders?\b|"
                        r"\bshoulders?\b")
_HALO_RE = re.compile(r"\bhalo\b|\b(?:surrounded|ringed|encircled|framed|circled)\s+(?:by|with)\b")
_SIDE_RE = re.compile(r"\b(side\s+stones?|(?:on\s+)?either\s+side|(?:on\s+)?each\s+side|on\s+the\s+sides?|"
                      r"on\s+both\s+sides|flanked|flanking|sides)\b")
_CENTRE_RE = re.compile(r"\b(cent(?:er|re)|middle|main)(?:\s+(?:stone|one|gem))?\b")
_TOTAL_RE = re.compile(r"\b(total(?:l?ing)?|totals|ctw|tw|tcw|in\s+total|total\s+(?:carat\s+)?weight|combined|altogether|"
                       r"all\s+together|for\s+the\s+pair)\b")
_EACH_RE = re.compile(r"\beach\b")
_SETTING_RE = re.compile(r"\b(?:\d\s+)?(bezel|prong|claw|channel|tension|bar)\b(?:\s+set(?:ting)?)?")


@dataclass
class ReadGroup:
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
    origin_stated: bool = False      # 'natural', 'mined' or 'lab' was said for this group
    type_guessed: bool = False       # no stone was named; the type is the reader's choice
    shape_stated: bool = False
    plural: bool = False             # named in the plural ('princess cut diamonds')
    named: bool = True               # False: 'pave' or 'a halo' said before its stones were named
    pending_total: float | None = None   # a total said with this group that belongs to the piece

    @property
    def sized(self) -> bool:
        return self.length is not None or self.total_carat is not None or self.carat is not None


def _clauses(text: str) -> list[tuple[int, int]]:
    """Spans between commas, colons, 'with', 'and', 'plus': each names one stone group. A
    clause that names two stones is cut before the words that describe the second
    ('amethyst drop earrings 10x7mm pear topaz': the size is the topaz's)."""
    spans, start = [], 0
    for m in re.finditer(r",|;|:|[.!?]\s|\(|\)|\bwith\b|\band\b|\bplus\b|\bset with\b|\bbut\b", text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        if not text[a:b].strip():
            continue
        cuts = [a]
        named = [s for s in _STONE_RE.finditer(text, a, b) if _stone_type(re.sub(r"\s+", " ", s.group(1)))]
        for stone in named[1:]:
            cut = stone.start()
            for word in reversed(list(re.finditer(r"\S+", text[cuts[-1]:stone.start()]))):
                if not re.fullmatch(_DESCRIBING + r"|an?|one|two|three|\d+", word.group()):
                    break
                cut = cuts[-1] + word.start()
            if cut > cuts[-1]:
                cuts.append(cut)
        out += [(x, y) for x, y in zip(cuts, cuts[1:] + [b]) if text[x:y].strip()]
    return out


def _stone_type(word: str) -> str | None:
    return next((v for p, v in _STONE_WORDS if re.fullmatch(p, word)), None)


_ANOTHER_PIECE = re.compile(r"\b(?:to\s+go\s+with|goes\s+with|to\s+match|to\s+sit\s+(?:next\s+to|with|against|beside)|"
                            r"next\s+to|alongside|beside|against)\b")
_THEIR_PIECE = re.compile(r"\b(?:my|her|his|their)\s+(?:current\s+|old\s+|existing\s+|other\s+)?(?:engagement\s+ring|"
                          r"wedding\s+(?:band|ring)|e\s*ring|ring|band|necklace|pendant|earrings)\s+(?:is|has|was|already)\b|"
                          r"\b(?:i|she|he|we)\s+(?:already\s+)?(?:have|has|own|owns)\s+(?:a|an|my|her|his)\s+(?:[a-z]+\s+){0,3}"
                          r"(?:ring|band|necklace|pendant|earrings|studs|bracelet)\b")
ROW_STYLES = ("eternity", "tennis", "riviera", "hoop")
_ACCENT_NOUN_RE = re.compile(r"\b(pave|micro\s+pave|accents?|melee)\b")


def read_stones(t: Text, fields: dict, on_band: list[tuple[int, int]]) -> list[ReadGroup]:
    """The stone groups, clause by clause, in the order the customer named them."""
    groups: list[ReadGroup] = []
    last: ReadGroup | None = None
    halo_next = False
    # A sentence about a piece the customer already has ('My engagement ring is 14k yellow
    # with a 1ct round solitaire.') names none of this piece's stones.
    theirs = [(s.start(), s.end()) for s in re.finditer(r"[^.!?]+", t.text) if _THEIR_PIECE.search(s.group())]
    for start, end in _clauses(t.text):
        if any(a <= start < b for a, b in theirs):
            continue
        if other := _ANOTHER_PIECE.search(t.text, start, end):
            end = other.start()         # 'to go with my oval solitaire': her ring, not this piece
        m = t.find(_STONE_RE, start, end)
        lab = t.find(_LAB_RE, start, end)
        accent_word = t.find(_ACCENT_RE, start, end)
        accent_noun = t.find(_ACCENT_NOUN_RE, start, end)
        plural = bool(m and re.search(r"(?<!s)s$|ies$", m.group(1)))
        # "tiny diamonds on the band" are accents; "a tiny 3 mm emerald" is one small stone;
        # "a small wrist" is no stone at all.
        count = t.find(_COUNT_RE, start, end)
        near = bool(m and accent_word and 0 <= m.start() - accent_word.end() <= 30)
        counted = bool(count and int(count.group(1)) > 1)
        accentish = any(start <= a < end for a, _ in on_band) or bool(accent_noun) or bool(
            near and (plural or counted))
        halo = t.find(_HALO_RE, start, end)
        if halo and halo.group().startswith(("surrounded", "ringed", "encircled", "framed", "circled")) \
                and (m is None or m.start() < halo.start()):
            # 'an amethyst surrounded by peridots': the stone before is the centre; the
            # stones named next are its halo.
            t.take(halo)
            halo_next, halo = True, None
        elif halo_next and m is not None:
            halo_next, halo = False, halo or m
        side = t.find(_SIDE_RE, start, end)
        size = _read_group_size(t, start, end)
        setting = t.find(_SETTING_RE, start, end)
        shape = t.find(_SHAPE_RE, start, end)
        if m is None and lab and (size or shape) and not any(g.type == "lab_diamond" for g in groups):
            # "a 1.5 carat lab grown oval": a lab-grown diamond without the word diamond.
            t.take(lab)
            group = ReadGroup("lab_diamond", origin_stated=True)
            groups.append(group)
            _apply(t, group, size, setting, shape, count)
            last = group
            continue
        if m is None:
            # No stone named: a size, shape or setting for the group before, a halo, or accents.
            if halo:
                t.take(halo)
                if not any(g.setting == "halo" for g in groups):
                    groups.append(ReadGroup("diamond", role="accent", setting="halo"))
            elif (accent_noun or (accentish and accent_word)) and not any(g.role == "accent" for g in groups):
                t.take_all(_ACCENT_RE, start, end)
                named = next((g for g in groups if g.role is None and not g.sized and g.type in ("diamond", "lab_diamond")
                              and g is not groups[0]), None) or next(
                    (g for g in groups if g.role is None and not g.sized and fields.get("style") in ROW_STYLES), None)
                if named is not None:
                    named.role = "accent"          # 'diamond huggies ..., pave around the front'
                    if size:
                        _apply(t, named, size, setting, shape, count)
                else:
                    groups.append(ReadGroup("diamond", role="accent", named=False))
            elif side and last is not None and not (size or shape or count) and last.role in (None, "accent") \
                    and last is not groups[0]:
                # 'two small round garnets, one each side': the stones just named are the sides.
                t.take(side)
                last.role = "side"
            elif side and last is not None and (size or count or shape):
                # 'two 0.5 ct pear sides': side stones of the stone already named.
                t.take(side)
                group = ReadGroup(last.type, role="side", origin_stated=last.origin_stated,
                               type_guessed=last.type_guessed)
                groups.append(group)
                _apply(t, group, size, setting, shape, count)
            elif size and size[0] == "carat" and size[2]:
                # 'total weight about 1.5ct' said on its own: the whole piece's weight.
                fields["_total_carat"] = size[1]
                t.take(size[3])
                t.take_all(_TOTAL_RE, start, end)
            elif last is not None and (size or setting or shape):
                target = last
                if centre_word := t.find(_CENTRE_RE, start, end):
                    # 'the centre one 1ct': the centre stone, even when the sides were named last.
                    target = next((g for g in groups if g.role in ("center", None)), last)
                    t.take(centre_word)
                _apply(t, target, size, setting, shape, None)
            elif last is None and size and size[0] == "carat":
                # 'about 1.5 carats, oval': a weight means a stone; the customer named none,
                # so it is shown as a diamond and the type is marked as our guess.
                group = ReadGroup("diamond", type_guessed=True)
                groups.append(group)
                _apply(t, group, size, setting, shape, count)
                last = group
            continue
        named_type = _stone_type(re.sub(r"\s+", " ", m.group(1)))
        stone_type = named_type or (last.type if last else "diamond")
        centre = t.find(_CENTRE_RE, start, end)
        if named_type is None and not (size or shape or count or setting or halo or side or accentish or lab or centre):
            # 'she is picky about stones': a stone word that says nothing about a stone.
            t.take(m)
            continue
        generic_shape = m.group(1) in ("rounds", "ovals", "pears", "cushions", "marquises")
        if named_type is None and last is not None and not side and not accentish and last.role in (None, "center") \
                and not (count and last.count) and not (size and (last.length or last.carat)) and not generic_shape:
            # 'oval center stone', '5 stones, 3mm round each': more about the stone already named.
            t.take(m)
            if centre:
                t.take(centre)
                last.role = "center"
            _apply(t, last, size, setting, shape, count)
            continue
        if named_type and not (size or shape or count or setting or halo or side or accentish or centre) \
                and any(g.type == named_type for g in groups):
            # 'reset the diamond into a new band': the stone already named, not another.
            t.take(m)
            continue
        t.take(m)
        t.take_all(rf"\b{m.group(1)}\b", start, end)
        if generic_shape and not shape:
            shape = m
        origin = False
        if stone_type == "diamond" and lab:
            stone_type, origin = "lab_diamond", True
            t.take(lab)
        elif nat := t.find(_NATURAL_RE, start, end):
            t.take(nat)
            origin = True
        role = "side" if side and not any(start <= a < end for a, _ in on_band) else ("accent" if accentish else None)
        single_accent = role is None and accent_word and not plural and any(g.role in (None, "center") for g in groups)
        if single_accent:
            # 'and a tiny diamond above it': one small accent beside the main stone.
            role = "accent"
        if centre and role is None:
            t.take(centre)
            role = "center"
        for found in (halo, side):
            if found and found is not m:
                t.take(found)
        t.take_all(_ACCENT_RE, start, end)
        if halo and not size:
            role = "accent"
            if halo is m:
                setting = None
        # A later, fuller mention of a stone already named ("pearl pendant, 8 mm pearl",
        # "5 little sapphires ..., each sapphire 3mm").
        pending = next((g for g in groups if not g.sized and g.type == stone_type and g.setting != "halo"
                        and (g.role is None or (role is None and not count and g.count is not None)
                             or (size and size[0] == "carat" and size[2] and role is None)
                             or (role == "accent" and g.role == "accent" and not halo))), None)
        existing_halo = next((g for g in groups if g.setting == "halo"), None)
        if halo and not size and existing_halo is not None and pending is None:
            # 'a hidden halo ... and a hidden halo of small diamonds': one halo, now with its stones.
            pending = existing_halo
            existing_halo.type = stone_type
        if pending is None and named_type and not size and role is None:
            # 'about 1.5 carats, ..., round diamonds': the stone the weight was for, named at last.
            pending = next((g for g in groups if g.type_guessed), None)
            if pending is not None:
                pending.type, pending.type_guessed = stone_type, False
        group = pending or ReadGroup(stone_type)
        if not pending:
            groups.append(group)
        elif not pending.named:
            # 'pave band ..., lab grown diamonds': the stones the pave was waiting for.
            pending.type, pending.named = stone_type, True
        group.origin_stated = group.origin_stated or origin
        group.plural = group.plural or plural
        group.role = role or group.role
        if group.role is None and setting and setting.group(1) in ("channel",):
            group.role = "accent"
        if halo is m and m is not None:
            role = group.role = "accent"           # the stones after 'surrounded by' are the halo
        elif halo and size:
            # 'a halo of sapphires': the halo is of the stone named next.
            halo_type, after = "diamond", _STONE_RE.match(t.text, halo.end() + 1) or \
                re.compile(r"\s*(?:of\s+)?(?:(?:small|tiny|little|round|pave)\s+)*" + _STONE_RE.pattern).match(t.text, halo.end())
            if after and (named := _stone_type(re.sub(r"\s+", " ", after.group(1)))):
                halo_type = named
                t.take(after)
            groups.append(ReadGroup(halo_type, role="accent", setting="halo"))
        if halo and role == "accent":
            group.setting = "halo"
        _apply(t, group, size, setting, shape, count)
        if single_accent:
            group.count = group.count or 1
        last = group
    if halo_next and not any(g.setting == "halo" for g in groups):
        groups.append(ReadGroup("diamond", role="accent", setting="halo"))
    return groups


def _read_group_size(t: Text, start: int, end: int):
    """('carat', value, is_total, match) or ('mm', length, width, match) or None."""
    if c := t.find(_CARAT_RE, start, end):
        total = bool(re.search(r"ctw|tw|total", c.group(0))) or bool(t.find(_TOTAL_RE, start, end))
        if c.group(2):           # 'about 0.10 each' is one stone's weight
            total = False
        return ("carat", float(c.group(1) or c.group(2)), total, c)
    if mm := t.find(_MM_RE, start, end):
        return ("mm", float(mm.group(1)), float(mm.group(2)) if mm.group(2) else None, mm)
    return None


def _apply(t: Text, group: ReadGroup, size, setting, shape, count) -> None:
    if shape:
        word = re.sub(r"\s+", " ", shape.group(1))
        word = word[:-1] if word in ("rounds", "ovals", "pears", "cushions", "marquises") else word
        group.shape = "emerald" if word.startswith("emerald") else _SHAPE_WORDS.get(word, word)
        group.shape_stated = True
        t.take(shape)
    if setting:
        group.setting = {"claw": "prong"}.get(setting.group(1), setting.group(1))
        t.take(setting)
    if count and 1 <= int(count.group(1)) <= 400:
        group.count = int(count.group(1))
        t.take(count)
    if size and (size[0] == "mm" or not size[2]) and group.total_carat is not None and group.carat is None:
        # '1.5ctw three stone ..., the centre one 1ct': the total was the piece's.
        group.total_carat, group.pending_total = None, group.total_carat
    if size and group.length is None and group.total_carat is None and group.carat is None:
        if size[0] == "carat" and size[2]:
            group.total_carat = size[1]
        elif size[0] == "carat":
            group.carat = size[1]
        else:
            length, width = size[1], size[2]
            if width is None:
                width = length if group.shape in ("round", "princess", "asscher", "heart", "cushion") \
                    else round(length / catalog.SHAPES[group.shape].ratio, 2)
            group.length, group.width = max(length, width), min(length, width)
        t.take(size[3])
        near = (max(0, size[3].start() - 30), size[3].end() + 30)
        t.take_all(_TOTAL_RE, *near)
        t.take_all(_EACH_RE, *near)


def _affirmed(text: str) -> str:
    """A round's instruction as read, less what it says no to ('no diamonds' names none)."""
    return NEGATION_RE.sub(" ", correct_spelling(normalise(text))[0])


def named_stone_type(text: str) -> str | None:
    """The stone type the words name, if any; lab-grown when they say so."""
    t = _affirmed(text)
    m = _STONE_RE.search(t)
    if not m:
        return None
    stone = _stone_type(re.sub(r"\s+", " ", m.group(1)))
    return "lab_diamond" if stone == "diamond" and _LAB_RE.search(t) else stone


def named_carat(text: str) -> float | None:
    """The weight of one stone the words give ('a 2 carat stone' -> 2.0); None for none or
    a total weight ('1ctw'), which an instruction cannot place on one stone."""
    t = _affirmed(text)
    m = _CARAT_RE.search(t)
    if not m or _TOTAL_RE.search(t) or re.search(r"ctw|tw", m.group(0)):
        return None
    return float(m.group(1) or m.group(2))


def named_shape(text: str) -> str | None:
    """The stone shape the words name, if any."""
    m = _SHAPE_RE.search(_affirmed(text))
    if not m:
        return None
    word = re.sub(r"\s+", " ", m.group(1))
    return "emerald" if word.startswith("emerald") else _SHAPE_WORDS.get(word, word)


def mentions_accents(text: str) -> bool:
    """Whether the words are about small accent stones rather than the centre stone."""
    return bool(_ACCENT_RE.search(_affirmed(text)))


def accent_group(where: str) -> StoneGroup:
    """A group of small round diamonds for a halo or along the band (count filled later)."""
    return StoneGroup(role="accent", type="diamond", shape="round", length_mm=1.3, width_mm=1.3, count=1,
                      setting="halo" if where == "halo" else "pave")
