"""The facts in a description that are not stones: the budget, what the customer does not
want, the gold's karat (read before any stone weight, so "14ct gold" is never a 14 carat
stone), and the piece's measurements, each placed by the word it stands next to."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from appliance.reader.reading import Text

_NUM = r"(\d+(?:\.\d+)?)"
_KARATS = {"9", "10", "14", "18", "22", "24"}
_COLOUR = r"(yellow|white|rose|pink|red|yg|wg|rg)"
_COLOURS = {"pink": "rose", "red": "rose", "yg": "yellow", "wg": "white", "rg": "rose"}
_PIECE_WORDS = r"(?:ring|band|pendant|necklace|chain|earrings?|studs?|hoops?|bracelet|bangle|cuff|setting|mount)"


# ---- budget ------------------------------------------------------------------------------

_BUDGET_WORD = r"(?:budget|spend|afford|price\s+range|pay)"
_LIMIT_WORD = r"(?:under|below|less\s+than|no\s+more\s+than|not\s+more\s+than|up\s+to|max(?:imum)?|at\s+most|around|about|roughly|approx(?:imately)?|~|between)"
_BUDGET_RE = re.compile(
    rf"(?P<lead>(?:{_BUDGET_WORD}(?:\s+(?:is|of|would\s+be|will\s+be|to|can|can't|cannot|around|about|under|up\s+to|max|like|roughly|maybe|approx|of\s+about|ideally|is\s+about|is\s+around|is\s+under|is\s+max)){{0,3}}\s*:?\s*)"
    rf"|(?:{_LIMIT_WORD}\s+))?"
    r"(?P<cur>[$£€]|(?:usd|aud|cad|nzd|gbp|eur)\s)?\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<mult>k\b|grand\b|thousand\b)?\s*"
    r"(?P<cur2>dollars?|usd|bucks|eur|euros?|pounds?|gbp|aud|cad|quid|(?<=\s)[$£€](?=\s))?\b")
_NOT_MONEY_AFTER = re.compile(r"\s*(?:mm|cm|ct|cts|carats?|inch|x\b|tw|ctw|yellow|white|rose|pink|red|gold|years?|"
                              r"stones?|diamonds?|k\s+(?:yellow|white|rose|gold))")


def read_budget(t: Text) -> int | None:
    """'under $5,000', 'budget 3k', 'around 2000 dollars' -> 5000, 3000, 2000. A number
    counts as money only with a currency sign or word, or after 'budget'/'spend', or as a
    round figure after 'under'/'around' with no unit; never a karat or a size."""
    for m in t.find_all(_BUDGET_RE):
        lead = (m.group("lead") or "").strip()
        money_word = bool(m.group("cur") or m.group("cur2") or m.group("mult") in ("grand", "thousand"))
        budget_word = bool(re.match(_BUDGET_WORD, lead))
        amount = float(m.group("num"))
        after = t.text[m.end():m.end() + 16]
        if m.group("mult") == "k":
            if not (budget_word or m.group("cur") or lead) or re.match(r"\s*(?:yellow|white|rose|pink|red|gold)", after):
                continue
            amount *= 1000
        elif m.group("mult"):
            amount *= 1000
        if not (money_word or budget_word):
            if not lead or amount < 100 or _NOT_MONEY_AFTER.match(after):
                continue
        elif not money_word and _NOT_MONEY_AFTER.match(after):
            continue
        if not 1 <= amount <= 10_000_000:
            continue
        t.take(m)
        return int(round(amount))
    return None


# ---- what the customer does not want ----------------------------------------------------

NEGATION_RE = re.compile(
    r"\b(?:no|not|without|nothing|never|minus|skip|none|don'?t\s+(?:want|like|need)|do\s+not\s+(?:want|like|need)|"
    r"no\s+need\s+for|rather\s+not(?:\s+have)?|isn'?t|not\s+a\s+fan\s+of|hate|dislike|avoid)\b"
    r"(?P<scope>(?:\s+with)?(?:\s+(?!but\b|and\b|with\b|instead\b|rather\b|prefer\b|just\b|only\b)[a-z']+){1,4})")

# Concepts a negation can remove: (pattern in the negated words, concept).
_EXCLUSIONS = [
    (r"\bhalos?\b", "halo"),
    (r"\bside\s+stones?\b|\bside\b", "side"),
    (r"\b(?:accents?|pave|melee|small\s+(?:diamonds|stones)|tiny\s+(?:diamonds|stones)|diamonds?\s+on\s+the\s+band|"
     r"band\s+(?:diamonds|stones)|stones?\s+on\s+the\s+band|sparkle\s+on\s+the\s+band)\b", "accent"),
    (r"\b(?:colou?red|coloured|color|colour)\s+(?:stones?|gems?|gemstones?)\b", "gems"),
    (r"\b(?:stones?|gems?|gemstones?)\b", "stones"),
    (r"\bdiamonds?\b", "diamond"),
    (r"\blab\b", "lab"),
    (r"\bwhite\s+gold\b", "white_gold"),
    (r"\byellow\s+gold\b", "yellow_gold"),
    (r"\b(?:rose|pink)\s+gold\b", "rose_gold"),
    (r"\bgold\b", "gold"),
    (r"\bplatinum\b", "platinum"),
    (r"\bpalladium\b", "palladium"),
    (r"\b(?:silver|sterling)\b", "sterling"),
    (r"\b(?:too\s+)?(?:big|large|flashy|huge|chunky|heavy|bulky|thick|sparkly|blingy)\b", "big"),
    (r"\bhalo\b", "halo"),
    (r"\b(?:pendant|charm|chain|necklace|earrings?|bracelet|ring)s?\b", "piece"),
]
_TAKEN_BACK_RE = re.compile(
    r"([^,.;!?]{3,60})\?\s*(?:no|nope|actually\s+no|on\s+second\s+thought(?:s)?)\b[,.!]?|"
    r"([^,.;!?]{3,80}?)\s+(?:but\s+)?(?:i|we|she|he)\s+(?:really\s+)?(?:don'?t|do\s+not|doesn'?t|does\s+not)\s+"
    r"(?:fancy|like|want|love|need)\s+(?:that|it|those|them|one)\b")
# A plain band has no stones set in it (a halo or a centre stone may still sit on top).
_PLAIN_BAND_RE = re.compile(r"\b(?:plain|simple|bare|clean)\s+(?:metal\s+)?(?:band|shank)\b")
# '..., platinum's out of my budget', 'white gold is too expensive': a metal ruled out.
_RULED_OUT_RE = re.compile(r"\b(platinum|palladium|white\s+gold|yellow\s+gold|rose\s+gold|gold|silver|sterling|(?:9|10|14|18|22)\s*k)"
                           r"(?:'s|\s+is|\s+was)?\s+(?:(?:way|a\s+bit|just|probably)\s+)?"
                           r"(?:out\s+of\s+(?:my|our|the)\s+(?:budget|price\s+range)|too\s+(?:expensive|pricey|much|dear)|"
                           r"not\s+(?:in|within)\s+(?:my|our)\s+budget|makes?\s+(?:her|his|my)\s+(?:skin|finger)|"
                           r"irritates|gives?\s+(?:her|him|me)\s+a\s+rash)")


@dataclass
class Exclusions:
    """What the customer said they do not want, and the words that said it."""
    concepts: set[str] = field(default_factory=set)
    phrases: list[str] = field(default_factory=list)

    def excludes_metal(self, metal: str) -> bool:
        colour = metal.rsplit("_", 1)[-1]
        gold = metal[0].isdigit()
        return (gold and "gold" in self.concepts) or (gold and f"{colour}_gold" in self.concepts) \
            or (gold and metal.split("_")[0] in self.concepts) \
            or (metal in ("platinum", "palladium", "sterling") and metal in self.concepts)


def read_exclusions(t: Text) -> Exclusions:
    """'no halo', 'not white gold', 'without side stones', 'nothing too big': the concepts
    removed (their words are used up, so no later rule reads them as wanted)."""
    out = Exclusions()
    for m in t.find_all(NEGATION_RE):
        scope = m.group("scope")
        found = set()
        for pattern, concept in _EXCLUSIONS:
            if re.search(pattern, scope):
                found.add(concept)
        if "white_gold" in found or "yellow_gold" in found or "rose_gold" in found:
            found.discard("gold")
        if "gems" in found:
            found.discard("stones")
        if "accent" in found or "side" in found:
            found.discard("stones")
            found.discard("diamond")
        if found:
            out.concepts |= found
            out.phrases.append(m.group(0).strip())
            t.take(m)
    for m in t.find_all(_TAKEN_BACK_RE):
        # 'three rows of micro pave? no, keep it simple', '... a hidden halo but I don't fancy
        # that': the customer took it back.
        for pattern, concept in _EXCLUSIONS:
            if re.search(pattern, m.group(1) or m.group(2)):
                out.concepts.add(concept)
        out.phrases.append(m.group(0).strip())
        t.take(m)
    for m in t.find_all(_PLAIN_BAND_RE):
        out.concepts.add("accent")
        t.take(m)
    for m in t.find_all(_RULED_OUT_RE):
        word = re.sub(r"\s+", "", m.group(1)) if m.group(1)[0].isdigit() else \
            re.sub(r"\s+", "_", m.group(1)).replace("silver", "sterling")
        out.concepts.add(word)
        out.phrases.append(m.group(0).strip())
        t.take(m)
    return out


# ---- metal ---------------------------------------------------------------------------------

_KARAT_RE = re.compile(rf"(?<![\d.$])(9|10|14|18|22|24)\s*(k|ct|cts|carats?)\b(?:\s*{_COLOUR}\b)?(?:\s*(gold))?")
_GOLD_THEN_KARAT_RE = re.compile(rf"\b{_COLOUR}?\s*gold\s*,?\s*(?:in\s+)?(?:(9|10|14|18|22|24)\s*(k)|(9|14|18|22)\s*(ct|cts|carats?))\b"
                                 r"(?!\s*(?:tw|ctw|total|of\b|each|in\s+total|diamonds?|stones?|gems?|round|oval|lab|natural))")
_HALLMARK = {"375": "9", "417": "10", "585": "14", "750": "18", "916": "22"}
_HALLMARK_RE = re.compile(rf"\b(375|417|585|750|916)\s*{_COLOUR}?\s*gold\b|\b{_COLOUR}?\s*gold\s*\(?(375|417|585|750|916)\b")
_SHORT_GOLD_RE = re.compile(r"\b(9|10|14|18)\s*k?\s*(yg|wg|rg)\b")
_METALS = [
    (re.compile(rf"\b{_COLOUR}\s*gold\b|\bgold\s+(white|yellow|rose|pink)\b"), None),
    (re.compile(r"\b(?:platinum|plat|pt\s*950|pt)\b"), "platinum"),
    (re.compile(r"\bpalladium\b"), "palladium"),
    (re.compile(r"\b(?:sterling\s+silver|sterling|silver(?!\s*(?:tones?|toned|colou?r(?:ed)?|looking|look|finish|plated)\b)|925)\b"),
     "sterling"),
    (re.compile(r"\bgold\b"), None),
]
_STONE_AFTER = re.compile(r"\s*(?:[a-z]+\s+){0,2}?(?:diamonds?|sapphires?|rub(?:y|ies)|emeralds?|moissanites?|stones?|"
                          r"gems?|oval|round|princess|cushion|pear|marquise|radiant|asscher|heart|centre|center|solitaire|"
                          r"lab|natural)\b")


@dataclass
class MetalReading:
    metal: str | None          # None: the words name no metal
    stated: bool = True        # karat and colour both given (or a metal with no karat)
    note: str | None = None
    karat_assumed: bool = False


@dataclass
class _Mention:
    at: int
    other_piece: bool = False  # said of another piece ('her engagement ring is platinum')
    wanted: bool = False       # said as the wish ('this time in white gold', 'needs to be 14k')
    fixed: str | None = None   # platinum, palladium, sterling
    karat: str | None = None
    colour: str | None = None


# A metal named for a part of the piece ('white gold prongs') is a two-tone detail, not the metal.
# Words that show a metal is told of another piece: the old one, hers already, one to match.
_OTHER_PIECE = re.compile(r"\b(?:old|existing|current|other|previous|original|grandmother'?s?|grandma'?s?|mum'?s|mom'?s|"
                          r"keep|kept|next\s+to|against|alongside|sits?\s+with|her\s+engagement\s+ring\s+is|already|"
                          r"engagement\s+ring\s+is|was|were|used\s+to|gave|given|snapped|broke|lost)\b|"
                          r"\b(?:my|her|his|their|[a-z]+'s)\s+(?:[a-z]+\s+){0,2}(?:ring|band|chain|necklace|pendant|earrings|"
                          r"hoops|bracelet|bangle|locket)s?\s+(?:is|are|was|were|has|have)\b")
# Words that show a metal is the one wanted for this piece, when the words name several.
_WANTED_METAL = re.compile(r"\b(?:new|replace\s+(?:it|them)\s+with|this\s+time|instead|i'?d\s+like|i\s+want|"
                           r"we\s+want|we'?d\s+like|would\s+like|let'?s\s+(?:do|go\s+with)|needs?\s+to\s+be|"
                           r"has\s+to\s+be|must\s+be|prefer)\b")
_CLAUSE_BOUND = re.compile(r"[,.;!?()]|\band\b|\bbut\b|\bso\b|\bbecause\b")
_PART_AFTER = re.compile(r"\s*(?:prongs?|claws?|head|heads|basket|tips?|accents?)\b")
_WEAK_KARAT_BEFORE = re.compile(r"(?:\bgold|\bin|\bset\s+in|,)\s*$")


def _gold(karat: str | None, colour: str | None) -> MetalReading:
    colour_word = _COLOURS.get(colour or "", colour)
    notes = []
    if karat == "24":
        notes.append("24k gold is too soft to hold stones or keep its shape; showing 22k, the purest we make.")
        karat = "22"
    if karat is None:
        notes.append(f"Gold purity not given; assumed 14k{' ' + colour_word if colour_word else ' yellow'} gold.")
    if colour_word is None:
        if karat is not None and karat != "22":
            notes.append(f"Gold colour not given; assumed {karat}k yellow gold.")
        colour_word = "yellow"
    if karat == "22" and colour_word != "yellow":
        notes.append("22k gold comes in yellow; showing 22k yellow gold.")
        colour_word = "yellow"
    return MetalReading(f"{karat or '14'}k_{colour_word}", stated=not notes, note=" ".join(notes) or None,
                        karat_assumed=karat is None)


def _mentions(t: Text) -> list[_Mention]:
    found: list[_Mention] = []
    for m in t.find_all(_KARAT_RE):
        karat, unit, colour, gold = m.groups()
        after = t.text[m.end():]
        strong = unit == "k" or colour or gold or re.match(rf"\s*{_PIECE_WORDS}\b", after)
        weak = karat in ("9", "14", "18", "22") and _WEAK_KARAT_BEFORE.search(t.text[:m.start()]) \
            and not _STONE_AFTER.match(after) and not re.match(r"\s*(?:total|tw|ctw|each)\b", after)
        if strong or weak:
            t.take(m)
            found.append(_Mention(m.start(), karat=karat, colour=colour))
    for m in t.find_all(_GOLD_THEN_KARAT_RE):
        t.take(m)
        found.append(_Mention(m.start(), karat=m.group(2) or m.group(4), colour=m.group(1)))
    for m in t.find_all(_HALLMARK_RE):
        t.take(m)
        found.append(_Mention(m.start(), karat=_HALLMARK[m.group(1) or m.group(4)], colour=m.group(2) or m.group(3)))
    for m in t.find_all(_SHORT_GOLD_RE):
        t.take(m)
        found.append(_Mention(m.start(), karat=m.group(1), colour=m.group(2)))
    for pattern, fixed in _METALS:
        for m in t.find_all(pattern):
            t.take(m)
            if _PART_AFTER.match(t.text, m.end()):
                continue
            colour = next((g for g in m.groups() if g), None) if m.groups() else None
            found.append(_Mention(m.start(), fixed=fixed, colour=None if fixed else colour))
    bounds = [0] + [m.end() for m in _CLAUSE_BOUND.finditer(t.text)] + [len(t.text)]
    for mention in found:
        start = max(b for b in bounds if b <= mention.at)
        end = min((b for b in bounds if b > mention.at), default=len(t.text))
        mention.other_piece = bool(_OTHER_PIECE.search(t.text[start:end]))
        mention.wanted = bool(_WANTED_METAL.search(t.text[start:end]))
        if re.search(r"\b(?:than|instead\s+of|rather\s+than|unlike)\s+$", t.text[max(0, mention.at - 20):mention.at]):
            mention.other_piece = True      # 'lighter than platinum': the other metal, compared
    return sorted(found, key=lambda x: x.at)


def _agree(mentions: list[_Mention]) -> bool:
    """Whether the mentions can be one metal ('18ct ... white gold'; one platinum)."""
    fixed = {m.fixed for m in mentions if m.fixed}
    golds = [m for m in mentions if not m.fixed]
    karats = {m.karat for m in golds if m.karat}
    colours = {_COLOURS.get(m.colour, m.colour) for m in golds if m.colour}
    return (not fixed and len(karats) <= 1 and len(colours) <= 1) or (len(fixed) == 1 and not golds)


def read_metal(t: Text) -> MetalReading:
    """The metal, karat first: '14ct yellow gold', '18 carat white', 'gold 9ct', '14k' are
    alloys and use up their number, so no stone is ever weighed by them. Mentions that
    agree are combined ('18ct ... white gold'); when the words name different metals (an
    old piece and the new one), the last named is shown and the note says so."""
    mentions = _mentions(t)
    if not mentions:
        return MetalReading(None, stated=False)
    wanted = [m for m in mentions if not m.other_piece]
    if wanted and len(wanted) < len(mentions):
        mentions = wanted
    if not _agree(mentions):
        wished = [m for m in mentions if m.wanted]
        if wished and _agree(wished):
            mentions = wished
    fixed = [m.fixed for m in mentions if m.fixed]
    karats = list(dict.fromkeys(m.karat for m in mentions if not m.fixed and m.karat))
    colours = list(dict.fromkeys(_COLOURS.get(m.colour, m.colour) for m in mentions if not m.fixed and m.colour))
    golds = [m for m in mentions if not m.fixed]
    if not fixed and len(karats) <= 1 and len(colours) <= 1:
        return _gold(karats[0] if karats else None, colours[0] if colours else None)
    if len(set(fixed)) == 1 and not golds:
        return MetalReading(fixed[0])
    last = mentions[-1]
    reading = MetalReading(last.fixed) if last.fixed else _gold(last.karat, last.colour)
    named = []
    for m in mentions:
        label = m.fixed or " ".join(x for x in (m.karat and m.karat + "k", m.colour, "gold") if x)
        if label not in named:
            named.append(label)
    note = f"You mentioned {' and '.join(named)}; we showed the last one. Change it in the materials panel."
    return MetalReading(reading.metal, stated=False, note=" ".join(x for x in (note, reading.note) if x),
                        karat_assumed=reading.karat_assumed)


# ---- measurements --------------------------------------------------------------------------

_WIDE_RE = re.compile(rf"(?<![\d.]){_NUM}\s*mm\s*(?:wide|width|across|band\s+width)\b|\b(?:width|wide)\s*(?:of|:|is|=)?\s*{_NUM}\s*mm\b")
_THICK_RE = re.compile(rf"(?<![\d.]){_NUM}\s*mm\s*(?:thick|thickness|deep|depth|high|tall|height)\b|"
                       rf"\b(?:thickness|thick|depth)\s*(?:of|:|is|=)?\s*{_NUM}\s*mm\b")
_BAND_WORD = r"(?:band|wedding\s+ring|ring|shank|bangle|cuff|bracelet)"
_BAND_MM_RE = re.compile(rf"(?<![\d.]){_NUM}\s*mm\s+(?:(?:[\w']+\s+){{0,5}}?){_BAND_WORD}\b|"
                         rf"\b{_BAND_WORD}\s*,?\s*(?:in\s+)?(?:(?:\d+\s*(?:k|ct|carat)\s+)?(?:platinum|palladium|silver|sterling|(?:yellow|white|rose)?\s*gold)\s*,?\s*)?"
                         rf"(?:pls\s+|please\s+|like\s+|is\s+|of\s+|about\s+|around\s+|maybe\s+){{0,2}}{_NUM}\s*mm\b"
                         r"(?!\s*(?:x\b|round|oval|princess|cushion|pear|marquise|emerald|[a-z]+\s+(?:diamonds?|stones?)))")
_CHAIN_MM_RE = re.compile(rf"(?<![\d.]){_NUM}\s*mm\s+(?:(?:cable|box|rope|curb|figaro|snake|wheat|link|thick|wide)\s+)?chain\b|"
                          rf"\bchain\s*(?:,|of|is)?\s*{_NUM}\s*mm\s*(?:wide|thick)?\b(?!\s*(?:long|length))")
_HOOP_RE = re.compile(rf"(?<![\d.]){_NUM}\s*(mm|cm)\s+(?:(?:[a-z]+\s+){{0,2}}?)hoops?\b|\bhoops?\s*,?\s*(?:of|about|around|roughly|approx(?:imately)?|at)?\s*{_NUM}\s*(mm|cm)\b")
_DIAMETER_RE = re.compile(rf"(?<![\d.]){_NUM}\s*(mm|cm)\s+(?:diameter|across|wide|round)\b|\bdiameter\s*(?:of|is|:)?\s*{_NUM}\s*(mm|cm)\b")
_INNER_RE = re.compile(rf"\b(?:inner|inside)\s+(?:diameter|size)\s*(?:of|is|:)?\s*{_NUM}\s*mm\b|(?<![\d.]){_NUM}\s*mm\s+(?:inner|inside)\s*(?:diameter)?\b")


def _number_span(m) -> tuple[int, int]:
    """The span of a measure's number and unit only, leaving the word it qualifies
    ('hoops', 'chain') for the rules that read pieces and styles."""
    index = next(i for i, g in enumerate(m.groups(), 1) if g and re.fullmatch(r"\d+(?:\.\d+)?", g))
    unit = re.compile(r"\s*(?:mm|cm)").match(m.string, m.end(index))
    return m.start(index), unit.end() if unit else m.end(index)


def _number(m) -> float:
    return float(next(g for g in m.groups() if g and re.fullmatch(r"\d+(?:\.\d+)?", g)))


_BARE_MM_RE = re.compile(rf"(?<![\d.x ])\s*(?<![\d.]){_NUM}\s*(mm)\b(?!\s*(?:x\b|wide|thick|chain|round|oval|pear|princess|cushion|stones?|diamonds?|[a-z]+\s+(?:diamonds?|stones?)))")


def _bare_hoop(t: Text):
    """On hoop earrings, a lone figure of 8 mm or more is the hoop (set stones are smaller)."""
    return next((m for m in t.find_all(_BARE_MM_RE) if 8 <= float(m.group(1)) <= 60), None)


def read_measurements(t: Text, piece: str) -> dict:
    """Band width and thickness, chain width, hoop diameter and a bangle's inner size,
    each from the word its number stands next to ('8mm wide and 2.2mm thick', '1.5mm
    chain', '25mm hoops'); a bare millimetre figure is left for the stones."""
    fields: dict = {}
    hoops = piece == "earrings" and re.search(r"\b(?:hoops?|huggies?)\b", t.text)
    if m := t.find(_HOOP_RE) or (hoops and (t.find(_DIAMETER_RE) or _bare_hoop(t))):
        value = _number(m) * (10 if "cm" in m.group(0) else 1)
        if piece == "earrings" and 8 <= value <= 80:
            fields["hoop_diameter_mm"] = value
            t.take(_number_span(m))
    if m := t.find(_CHAIN_MM_RE):
        value = _number(m)
        if piece in ("pendant", "necklace", "bracelet") and 0.8 <= value <= 12:
            fields["band_width_mm"] = max(1.0, value)
            t.take(_number_span(m))
    if m := t.find(_INNER_RE):
        value = _number(m)
        if piece == "bracelet" and 45 <= value <= 76:
            fields["bracelet_length_mm"] = round(math.pi * value)
            t.take(_number_span(m))
    if m := t.find(_WIDE_RE):
        value = _number(m)
        if 1 <= value <= 12:
            fields["band_width_mm"] = value
            t.take(m)
    if m := t.find(_THICK_RE):
        value = _number(m)
        if 0.8 <= value <= 4:
            fields["band_thickness_mm"] = value
            t.take(m)
    if "band_width_mm" not in fields and piece in ("ring", "bracelet"):
        # Only the number need be free: the words between ('14k rose gold') were read as the metal.
        for m in _BAND_MM_RE.finditer(t.text):
            number = 1 if m.group(1) else 2
            span = (m.start(number), t.text.index("mm", m.end(number)) + 2)
            if any(t.used[span[0]:span[1]]):
                continue
            value = float(m.group(number))
            if 1 <= value <= 12:
                fields["band_width_mm"] = value
                t.take(span)
                break
    return fields


# ---- design details the spec does not hold yet ---------------------------------------------

_DETAILS = re.compile(
    r"\b(toi\s+et\s+moi|you\s+and\s+me|half\s+eternity|shared\s+prongs?|milgrain|mill\s+grain|twisted|twist|rope\s+band|"
    r"engraved|engraving|engrave|inscription|inscribed|vintage|antique|art\s+deco|deco|filigree|split\s+shank|"
    r"cathedral|hidden\s+halo|bypass|knife\s+edge|east\s+west|infinity|floral|flower|leaf|leaves|vine|celtic|"
    r"criss\s+cross|cluster|stackable|stacking|signet|cocktail|chevron|wishbone|curved|contour|two\s+tone|"
    r"mixed\s+metals?|organic|nature|bohemian|boho|minimalist|modern|geometric|hexagon|hexagonal|kite|"
    r"scalloped|claw\s+tips?|double\s+halo|double\s+band|bridge|gallery|peekaboo|personali[sz]ed|initials?|"
    r"birthstones?|mother'?s\s+ring|family\s+ring|promise\s+ring|matching|set\s+of\s+\d+)\b")


def read_details(t: Text) -> list[str]:
    """Design words a jeweler needs but the spec cannot hold yet ('milgrain', 'toi et
    moi', 'art deco'): kept, in order, so they reach the jeweler rather than vanish."""
    details = []
    for m in t.find_all(_DETAILS):
        word = re.sub(r"\s+", " ", m.group(1))
        if word not in details:
            details.append(word)
        # A hidden or double halo is still a halo: only the word that qualifies it is used.
        t.take((m.start(), m.start() + len(m.group(1).split()[0])) if word.endswith(" halo") else m.span())
    return details
