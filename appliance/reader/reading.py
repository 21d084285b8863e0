"""The customer's words as the reader reads them: normalised (number words, fractions,
units, dimensions), with misspelt catalog words corrected (and each correction said), and
with the spans already used marked, so what no rule placed can be reported."""

from __future__ import annotations

import functools
import re

from rapidfuzz.distance import DamerauLevenshtein

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
_FRACTION_WORDS = {"half": 0.5, "quarter": 0.25, "third": 1 / 3}
_NUMBER = r"(?:\d+(?:\.\d+)?)"

# Words the reader knows, that a customer may misspell: the catalog's vocabulary in the
# forms people write. A word is corrected only when it is not itself a known word, is
# long enough to tell apart, and is one edit away (two for long words).
VOCABULARY = """
platinum palladium sterling silver yellow white rose gold
diamond diamonds sapphire sapphires ruby rubies emerald emeralds aquamarine aquamarines morganite
morganites amethyst amethysts topaz tanzanite tanzanites garnet garnets pearl pearls moissanite
moissanites peridot peridots opal opals tourmaline tourmalines citrine citrines
oval princess cushion asscher radiant marquise solitaire eternity pendant necklace earrings earring
bracelet bangle engagement wedding halo bezel prong channel pave carat carats karat budget
""".split()
# Real words one or two edits from a catalog word, which are never corrected.
_KNOWN = set(VOCABULARY) | set("""
pear pears tear pearly silvery sliver garner diamante golden roses rosey opaline garnets halos carol ovals
""".split())
# Misspellings too far from the word for the edit distance, seen in shoppers' writing.
MISSPELLINGS = {"neckless": "necklace", "necklase": "necklace", "earings": "earrings", "ear rings": "earrings",
                "platnum": "platinum", "plantinum": "platinum", "rubys": "rubies", "dimonds": "diamonds",
                "diamons": "diamonds", "saphires": "sapphires", "perls": "pearls"}


def _number_words(t: str) -> str:
    """'twenty two' -> '22', 'seven' -> '7', 'one point five' -> '1.5'."""
    def tens(m):
        return str(_TENS[m[1]] + (_UNITS[m[2]] if m[2] else 0))
    t = re.sub(r"\b(" + "|".join(_TENS) + r")(?:[\s-]+(" + "|".join(k for k in _UNITS if 0 < _UNITS[k] < 10)
               + r"))?\b", tens, t)
    t = re.sub(r"\b(" + "|".join(_UNITS) + r")\b", lambda m: str(_UNITS[m[1]]), t)
    t = re.sub(r"\b(?:a|an)\s+(hundred|thousand)\b", r"1 \1", t)
    t = re.sub(r"\b(\d{1,2})\s+hundred(?:\s+and)?(?:\s+(\d{1,2}))?\b",
               lambda m: str(int(m[1]) * 100 + int(m[2] or 0)), t)
    t = re.sub(r"\b(\d{1,3})\s+thousand\b", lambda m: str(int(m[1]) * 1000), t)
    return re.sub(r"\b(\d+)\s+point\s+(\d+)\b", r"\1.\2", t)


def _fractions(t: str) -> str:
    """Spoken and written fractions as decimals: 'a carat and a half' -> '1.5 carat',
    'three quarters of a carat' -> '0.75 carat', '1 1/2' -> '1.5', '1/3 ct' -> '0.33 ct'."""
    t = re.sub(r"\b(?:a|an|1)\s+(carat|ct|karat|inch)\s+and\s+a\s+(half|quarter)\b",
               lambda m: f"{1 + _FRACTION_WORDS[m[2]]:g} {m[1]}", t)
    t = re.sub(r"\b(\d+)\s+(carats?|ct)\s+and\s+a\s+(half|quarter)\b",
               lambda m: f"{int(m[1]) + _FRACTION_WORDS[m[3]]:g} {m[2]}", t)
    t = re.sub(r"\b(\d+)\s+and\s+(?:a|1)\s+(half|quarter|third)\b",
               lambda m: f"{int(m[1]) + _FRACTION_WORDS[m[2]]:.3g}", t)
    t = re.sub(r"\b(\d+)\s+and\s+3\s+quarters\b", lambda m: f"{int(m[1]) + 0.75:g}", t)
    t = re.sub(r"\b3\s+quarters?(?:\s+of)?(?:\s+an?)?(?=\s+(?:carat|ct)\b)", "0.75", t)
    t = re.sub(r"\b(?:a\s+|1\s+)?(half|quarter|third)(?:\s+of)?(?:\s+an?)?(?=\s*(?:carat|ct)\b)",
               lambda m: f"{_FRACTION_WORDS[m[1]]:.2g}", t)
    t = re.sub(r"\b(?:a|an)\s+(?=(?:carat|ct)\b)", "1 ", t)
    t = re.sub(r"\b(\d+)\s+(\d)/([1-9])\b", lambda m: f"{int(m[1]) + int(m[2]) / int(m[3]):.3g}", t)
    t = re.sub(r"(?<![\d/])(\d)/(\d{1,2})(?![\d/])",
               lambda m: f"{int(m[1]) / int(m[2]):.2g}" if int(m[2]) else m[0], t)
    return t


def normalise(text: str) -> str:
    """Lower case, plain ASCII quotes, numbers as digits, units next to their number
    ('2ct' -> '2 ct', '7x5' -> '7 x 5 mm'), hyphens and slashes between words as spaces.
    Digit runs longer than any jewelry figure are cut to six digits, so arithmetic on them
    stays in range."""
    t = " " + re.sub(r"\d{7,}", lambda m: m.group()[:6], text.lower()) + " "
    for a, b in (("\u00e9", "e"), ("\u00e8", "e"), ("½", " 1/2"), ("¼", " 1/4"), ("¾", " 3/4"), ("⅓", " 1/3"),
                 ("×", " x "), ("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("″", '"')):
        t = t.replace(a, b)
    t = re.sub(r'(?<=\d)\s*"', " inch ", t).replace('"', " ")
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)                       # 5,000 -> 5000
    t = re.sub(r"(?<=\d)\.(?=\d{3}\s*(?:€|eur|euros?)(?![a-z]))", "", t)      # 2.000 € -> 2000 €
    t = re.sub(r"(?<![\d.])\.(?=\d)", "0.", t)                          # .20 tw -> 0.20 tw
    # A decimal comma, as much of Europe writes it: '0,3 carat', '2,5 mm', 'size 6,5'.
    t = re.sub(r"(?<![\d,])(\d{1,2}),(\d{1,2})(?=\s*(?:ct|cts|ctw|carats?|karat|mm|cm)\b)", r"\1.\2", t)
    t = re.sub(r"\b(size\s+(?:eu\s+|us\s+)?\d{1,2}),(25|5|75)\b", r"\1.\2", t)
    t = re.sub(r"\bw/(?=\s|[a-z])", "with ", t)                          # w/ round diamond halo
    t = re.sub(r"(?<=\d)\s*k?t?\s*(yg|wg|rg)\b", r"k \1", t)              # 14kwg -> 14k wg
    t = re.sub(r"\bsz\b\.?", "size", t)
    t = re.sub(r"\bt\.\s?w\.?", " tw ", t)
    t = re.sub(r"\binches\b", "inch", t)
    t = _number_words(t)
    t = re.sub(r"(?<=\d)\s*(?:kt|kr|karats?)\b", "k", t)
    t = _fractions(t)
    t = re.sub(r"\b(size\s+(?:uk\s+)?[d-z])\s+and\s+a\s+half\b", r"\1 0.5", t)
    t = re.sub(r"(?<=\d)\s*(ctw|ct|cts|carats?|mm|cm|k|in|inch|tw)\b", r" \1", t)
    # '18 in chain', '7in': 'in' is inches only where a length ends or names what it measures.
    t = re.sub(r"(?<=\d) in\b(?=\s*(?:[,.;:!?)]|$|(?:long|length|chain|necklace|bracelet|anklet|cable|box|rope|curb|"
               r"figaro|snake|wheat|link|pendant|drop)\b))", " inch", t)
    # Dimensions: '7x5', '8 x 6 mm', '9 by 7mm' -> '7 x 5 mm' (never a count 'x' carats).
    t = re.sub(rf"(?<![\d.])({_NUMBER})\s*(?:x|by|\*)\s*({_NUMBER})(?:\s*mm\b)?(?!\s*(?:ct|carat|k\b|inch|cm|\.\d))",
               r"\1 x \2 mm", t)
    t = re.sub(r"\s[-–—]+\s|(?<=[a-z])\s*:\s", ", ", t)      # 'earrings - pear ...', 'pendant: ...'
    t = re.sub(r"(?<=[a-z])[-:/](?=[a-z ])|-", " ", t)
    return re.sub(r"\s+", " ", t)


def correct_spelling(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The normalised text with misspelt catalog words replaced ('platnium' -> 'platinum'),
    and the (written, read as) pairs so the reader can say what it did."""
    corrections: list[tuple[str, str]] = []

    def fix(m: re.Match) -> str:
        word = m.group()
        meant = _meant(word)
        if meant != word:
            corrections.append((word, meant))
        return meant

    return re.sub(r"[a-z]+", fix, text), corrections


@functools.lru_cache(maxsize=4096)
def _meant(word: str) -> str:
    """The catalog word a written word stands for (itself when it is not a misspelling)."""
    if word in MISSPELLINGS:
        return MISSPELLINGS[word]
    if len(word) < 4 or word in _KNOWN:
        return word
    limit = 1 if len(word) <= 6 else 2
    # A four-letter word is only read as a five-letter one it lacks a letter of ('whte').
    best, distance = word, limit + 1
    for candidate in VOCABULARY:
        # Misspellings keep the first letter ('saphire', 'emrald'); words that do not are
        # other words ('parents' is not 'garnets', 'wearing' is not 'earring').
        if candidate[0] != word[0] or abs(len(candidate) - len(word)) > limit \
                or (len(word) == 4 and len(candidate) != 5):
            continue
        d = DamerauLevenshtein.distance(word, candidate, score_cutoff=limit)
        if d < distance:
            best, distance = candidate, d
    return best if 0 < distance <= limit else word


class Text:
    """The normalised text with the character spans the reader has already used."""

    def __init__(self, text: str):
        self.text = text
        self.used = bytearray(len(text))

    def take(self, m) -> None:
        start, end = m.span() if hasattr(m, "span") else m
        self.used[start:end] = b"\x01" * (end - start)

    def find(self, pattern, start: int = 0, end: int | None = None):
        """The first match in [start, end) that overlaps no span already used."""
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        for m in rx.finditer(self.text, start, len(self.text) if end is None else end):
            if 1 not in self.used[m.start():m.end()]:
                return m
        return None

    def find_all(self, pattern, start: int = 0, end: int | None = None) -> list:
        """Every free match in [start, end)."""
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        return [m for m in rx.finditer(self.text, start, len(self.text) if end is None else end)
                if 1 not in self.used[m.start():m.end()]]

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
            if 1 not in self.used[m.start():m.end()]:
                word = m.group().strip(".'")
                if word and word not in stopwords and not re.fullmatch(r"[\d.]+|\d+k?|'?s", word):
                    words.append(word)
        return words
