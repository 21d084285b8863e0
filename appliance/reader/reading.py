"""The customer's words as the parsers read them: normalised (number words, fractions,
units) and with the spans already used marked, so what no rule placed can be reported."""

from __future__ import annotations

import re

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20}


def normalise(text: str) -> str:
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


class Text:
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

    def unplaced(self, stopwords: set[str]) -> list[str]:
        """The words no rule used, less the words that never need placing."""
        words = []
        for m in re.finditer(r"[a-z0-9.']+", self.text):
            if not any(self.used[m.start():m.end()]):
                word = m.group().strip(".'")
                if word and word not in stopwords and not re.fullmatch(r"[\d.]+|\d+k?", word):
                    words.append(word)
        return words
