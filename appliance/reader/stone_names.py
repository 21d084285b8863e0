"""Stones named without their names: by colour ('a blue stone', 'something green') or by
birth month (the modern list), read as the likely stone with a note that offers the others."""

from __future__ import annotations

import re

# A stone named by its colour, or by a birth month (the modern list): the likely stone,
# and the others a customer might mean, for the note that says so.
_COLOUR_STONES = {
    "blue": ("sapphire", "blue topaz, aquamarine or tanzanite"),
    "green": ("emerald", "peridot"),
    "red": ("ruby", "garnet"),
    "pink": ("morganite", "pink tourmaline"),
    "purple": ("amethyst", "tanzanite"),
    "violet": ("amethyst", "tanzanite"),
    "yellow": ("citrine", "a yellow sapphire"),
    "orange": ("citrine", "garnet"),
    "teal": ("sapphire", "tourmaline"),
}
_PLURALS = {"ruby": "rubies", "topaz": "topazes"}
_MONTH_STONES = {
    "january": ("garnet", None), "february": ("amethyst", None), "march": ("aquamarine", None),
    "april": ("diamond", None), "may": ("emerald", None), "june": ("pearl", "alexandrite or moonstone"),
    "july": ("ruby", None), "august": ("peridot", "spinel"), "september": ("sapphire", None),
    "october": ("opal", "pink tourmaline"), "november": ("citrine", "golden topaz"),
    "december": ("tanzanite", "blue topaz, turquoise or zircon"),
}
_MONTHS = {m[:3]: m for m in _MONTH_STONES} | {m: m for m in _MONTH_STONES}
_COLOUR_STONE_RE = re.compile(
    r"\b(?:something|anything|a|an|the|one|some|with)\s+(?:(?:light|dark|deep|pale|bright|soft|pretty|nice|little|small|big)\s+)?"
    r"(blue|green|red|pink|purple|violet|yellow|orange|teal)\b(?!\s+(?:gold|sapphire|topaz|tourmaline|diamond|emerald))"
    r"(?:\s+(?:gemstones?|stones?|gems?|centre|center|one)\b)?|\b(blue|green|red|pink|purple|violet|yellow|orange|teal)\s+"
    r"(?:gemstones?|stones?|gems?)\b")
_NEGATED_BEFORE = re.compile(r"\b(?:no|not|without|nothing|never|don'?t\s+want|hate|avoid)\s+(?:a\s+|an\s+|any\s+)?$")
_BIRTH_RE = re.compile(r"\bbirth\s*stones?\b|\bborn\s+in\b|\bbirth\s*month\b")
_MONTH_RE = re.compile(r"\b(january|february|march|april|may|june|july|august|september|october|november|december|"
                       r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\b")


def guess_stones(text: str) -> tuple[str, list[str], set[str]]:
    """Stones named by colour ('a blue stone', 'something green') or by birth month ('her
    birthstone, she was born in July'), written as the likely stone so the reader reads it;
    with a note for each guess that offers the others, and the stone types guessed."""
    notes: list[str] = []
    guessed: set[str] = set()
    if _BIRTH_RE.search(text):
        def month(m: re.Match) -> str:
            name = _MONTHS.get(m.group(1).removesuffix("t") if m.group(1) == "sept" else m.group(1))
            if name is None or (name == "may" and not re.search(r"(?:born\s+in|birthstones?|,|and|for)\s+$|^\s*(?:birthstone|,|and)",
                                                               text[max(0, m.start() - 16):m.start()] + "|")):
                return m.group(0)
            stone, others = _MONTH_STONES[name]
            guessed.add(stone)
            notes.append(f"{name.capitalize()}'s birthstone: we showed {stone}" + (f" (it can also be {others})." if others else "."))
            return f" {stone} "
        text = _MONTH_RE.sub(month, text)

    def colour(m: re.Match) -> str:
        if _NEGATED_BEFORE.search(text[max(0, m.start() - 24):m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))]
                                  + (" " if m.group(1) else "")):
            return m.group(0)
        word = m.group(1) or m.group(2)
        stone, others = _COLOUR_STONES[word]
        guessed.add(stone)
        notes.append(f"A {word} stone: we showed {stone}; it could also be {others}. Change it in the materials panel.")
        words = m.group(0).split()
        lead = words[0] if m.group(1) and words[0] in ("a", "an", "the", "with", "one", "some") else ""
        name = (_PLURALS.get(stone, stone + "s")) if re.search(r"(?:stones|gems|gemstones)$", m.group(0)) else stone
        return f" {lead} {name} "
    text = _COLOUR_STONE_RE.sub(colour, text)
    return re.sub(r"\s+", " ", text), notes, guessed
