"""The price book's model and rules: the built-in defaults, the validation that names the
entry to fix, the upgrade of a book saved by an older version, and the preview of a change
on sample designs. Its saved versions live in `appliance.studio.price_books`."""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation

from appliance.jewelry import catalog
from appliance.jewelry.pricing import quote
from appliance.jewelry.specs import Spec, StoneGroup

SCHEMA = 4
ROUNDING = {"cent": "to the cent", "unit": "to the unit", "five": "to 5", "ninety_nine": "to .99"}
MARKUP_CATEGORIES = ("metal", "stone", "setting", "labor", "other")
SPOT_BASES = ("gold", "platinum", "palladium", "silver")

_METAL_PRICES = {"9k_yellow": "52", "9k_white": "54", "9k_rose": "52", "10k_yellow": "58", "10k_white": "60", "10k_rose": "58", "14k_yellow": "80", "14k_white": "83",
                 "14k_rose": "80", "18k_yellow": "102", "18k_white": "106", "18k_rose": "102", "22k_yellow": "125",
                 "platinum": "56", "palladium": "48", "sterling": "1.80"}

DEFAULT_PRICE_BOOK: dict = {
    "schema": SCHEMA,
    "currency": "USD",
    "metal_pricing": "per_gram",                # or "spot": spot per troy oz x fineness x (1 + premium)
    "spot_per_troy_oz": {"gold": "3900", "platinum": "1600", "palladium": "1300", "silver": "50"},
    "alloy_premium": "0.10",
    "metals": {key: {"price_per_gram": _METAL_PRICES[key], "density": str(m.density), "fineness": str(m.fineness),
                     "casting_loss": str(m.casting_loss)} for key, m in catalog.METALS.items()},
    # Cost per carat by the carat weight of one stone: [[from_carat, price_per_carat], ...].
    "stone_per_carat": {
        # Natural diamonds at the store's standard grade (G-H / VS); other grades by the factors below.
        "diamond": [["0", "700"], ["0.3", "1600"], ["0.7", "2900"], ["1.0", "4200"], ["2.0", "8000"]],
        "lab_diamond": [["0", "300"], ["0.3", "320"], ["0.7", "360"], ["1.0", "400"], ["2.0", "450"]],
        "moissanite": [["0", "120"], ["1.0", "150"]],
        "sapphire": [["0", "350"], ["0.5", "700"], ["1.0", "1300"], ["2.0", "1900"]],
        "ruby": [["0", "450"], ["0.5", "900"], ["1.0", "1800"], ["2.0", "2600"]],
        "emerald": [["0", "400"], ["0.5", "800"], ["1.0", "1500"], ["2.0", "2200"]],
        "aquamarine": [["0", "80"], ["1.0", "150"], ["3.0", "220"]],
        "morganite": [["0", "60"], ["1.0", "120"], ["3.0", "180"]],
        "amethyst": [["0", "15"], ["1.0", "25"], ["5.0", "35"]],
        "topaz": [["0", "10"], ["1.0", "15"], ["5.0", "20"]],
        "tanzanite": [["0", "250"], ["1.0", "400"], ["3.0", "600"]],
        "garnet": [["0", "30"], ["1.0", "50"], ["3.0", "80"]],
        "peridot": [["0", "40"], ["1.0", "70"], ["3.0", "110"]],
        "opal": [["0", "60"], ["1.0", "120"], ["3.0", "180"]],
        "tourmaline": [["0", "80"], ["1.0", "150"], ["3.0", "250"]],
        "citrine": [["0", "15"], ["1.0", "25"], ["5.0", "35"]],
    },
    # Pearls by diameter: [[from_mm, price_each], ...].
    "pearl_per_piece": [["0", "15"], ["6", "25"], ["7", "40"], ["8", "60"], ["9", "90"], ["10", "140"]],
    # Per stone, by setting and by the size of one stone (melee under 0.05 ct, small under 0.30 ct).
    "setting_fee": {"prong": {"melee": "4", "small": "15", "centre": "40"},
                    "bezel": {"melee": "10", "small": "30", "centre": "75"},
                    "pave": {"melee": "3", "small": "8", "centre": "25"},
                    "channel": {"melee": "6", "small": "14", "centre": "40"},
                    "halo": {"melee": "4", "small": "10", "centre": "30"},
                    "bar": {"melee": "6", "small": "15", "centre": "40"},
                    "tension": {"melee": "40", "small": "90", "centre": "150"}},
    # Labour per piece and style for gold; other metals by their class's factor; never
    # less than the store's minimum per piece.
    "labor": {
        "ring": {"plain": "150", "solitaire": "240", "halo": "360", "three_stone": "320", "pave": "340",
                 "eternity": "420"},
        "pendant": {"solitaire": "160", "halo": "260", "plain": "120"},
        "earrings": {"stud": "120", "drop": "200", "hoop": "140"},
        "bracelet": {"chain": "60", "tennis": "200", "bangle": "220"},
        "necklace": {"chain": "30", "riviera": "600", "pendant": "180"},
    },
    "labor_metal_factor": {"silver": "0.3", "gold": "1", "palladium": "1.15", "platinum": "1.25"},
    "labor_minimum": "25",
    # Price factors by grade, best first; the store's standard grade is 1.
    "quality": {
        "diamond": {"colour": {"D-F": "1.45", "G-H": "1", "I-J": "0.78", "K-M": "0.6"},
                    "clarity": {"FL-VVS": "1.3", "VS": "1", "SI": "0.8", "I": "0.55"}},
        "lab_diamond": {"colour": {"D-F": "1.15", "G-H": "1", "I-J": "0.9", "K-M": "0.8"},
                        "clarity": {"FL-VVS": "1.1", "VS": "1", "SI": "0.9", "I": "0.75"}},
        "gem": {"AAAA": "1.8", "AAA": "1.35", "AA": "1", "A": "0.7"},
    },
    "default_quality": {"diamond": "G-H/VS", "lab_diamond": "G-H/VS", "gem": "AA"},
    "design_fee": "0",
    "finishing": {"polished": "0", "matte": "20", "brushed": "20", "hammered": "45"},
    # Progressive brackets per category: [[from_cost, multiplier], ...].
    "markup": {"metal": [["0", "1.8"]], "stone": [["0", "2.0"], ["1000", "1.6"], ["3000", "1.35"], ["10000", "1.25"]],
               "setting": [["0", "2.2"]], "labor": [["0", "2.2"]], "other": [["0", "2.0"]]},
    "rounding": "unit",
    "tax_rate": "0",
    "deposit_pct": "30",
    "validity_days": 14,
}

# Designs the editor prices before and after a change, so the jeweler sees its effect:
# (what the jeweler reads, the spec priced).
SAMPLE_DESIGNS: list[tuple[str, Spec]] = [
    ("14k yellow gold solitaire ring with a 1 carat round diamond, size 6",
     Spec(style="solitaire", ring_size=6.0, stones=[StoneGroup(length_mm=6.44, width_mm=6.44)])),
    ("platinum halo engagement ring with a 1.5 carat oval lab diamond, size 6 1/2",
     Spec(metal="platinum", ring_size=6.5, stones=[
         StoneGroup(type="lab_diamond", shape="oval", length_mm=9.06, width_mm=6.47),
         StoneGroup(role="accent", length_mm=1.3, width_mm=1.3, count=19, setting="halo")])),
    ("18k white gold three-stone ring, 1 carat cushion sapphire with diamond side stones",
     Spec(style="three_stone", metal="18k_white", stones=[
         StoneGroup(type="sapphire", shape="cushion", length_mm=5.57, width_mm=5.31),
         StoneGroup(role="side", length_mm=3.45, width_mm=3.45, count=2)])),
    ("plain 4mm 14k rose gold comfort band, size 9",
     Spec(metal="14k_rose", ring_size=9.0, band_width_mm=4.0)),
    ("sterling silver pendant with an 8x6mm oval amethyst on an 18 inch chain",
     Spec(piece_type="pendant", metal="sterling", chain_length_mm=457,
          stones=[StoneGroup(type="amethyst", shape="oval", length_mm=8.0, width_mm=6.0)])),
    ("diamond stud earrings 0.5ct each in 14k white gold",
     Spec(piece_type="earrings", style="stud", metal="14k_white", stones=[StoneGroup(length_mm=5.11, width_mm=5.11)])),
]


class PriceBookError(ValueError):
    """A price book entry is missing or invalid; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _number(path: str, value, minimum: str = "0") -> str:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise PriceBookError(path, f"{value!r} is not a number") from None
    if not amount.is_finite() or amount < Decimal(minimum):
        raise PriceBookError(path, f"must be {minimum} or more")
    return str(amount)


def _tiers(path: str, tiers, *, non_decreasing: bool, minimum_value: str = "0") -> list:
    if not isinstance(tiers, (list, tuple)) or not tiers:
        raise PriceBookError(path, "needs at least one tier")
    clean, last_start, last_value = [], None, None
    for i, tier in enumerate(tiers):
        if not isinstance(tier, (list, tuple)) or len(tier) != 2:
            raise PriceBookError(f"{path}.{i}", "each tier is [from, value]")
        start, value = _number(f"{path}.{i}", tier[0]), _number(f"{path}.{i}", tier[1], minimum_value)
        if i == 0 and Decimal(start) != 0:
            raise PriceBookError(f"{path}.0", "the first tier must start at 0")
        if last_start is not None and Decimal(start) <= last_start:
            raise PriceBookError(f"{path}.{i}", "tiers must be in ascending order")
        if non_decreasing and last_value is not None and Decimal(value) < last_value:
            raise PriceBookError(f"{path}.{i}", "a larger size may not cost less than a smaller one")
        last_start, last_value = Decimal(start), Decimal(value)
        clean.append([start, value])
    return clean


def _section(book: dict, name: str) -> dict:
    section = book.get(name)
    if not isinstance(section, dict):
        raise PriceBookError(name, "is missing")
    return section


def validate_price_book(book: dict) -> dict:
    """Check a whole price book; returns it normalised or raises PriceBookError naming
    the first entry to fix (dotted path, as the editor's field names)."""
    if not isinstance(book, dict):
        raise PriceBookError("book", "is an object of sections (metals, stone_per_carat, ...)")
    out: dict = {"schema": SCHEMA}
    currency = str(book.get("currency", "")).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise PriceBookError("currency", "must be a three-letter currency code such as USD")
    out["currency"] = currency
    out["metal_pricing"] = book.get("metal_pricing", "per_gram")
    if out["metal_pricing"] not in ("per_gram", "spot"):
        raise PriceBookError("metal_pricing", "choose per_gram or spot")
    spot = _section(book, "spot_per_troy_oz")
    out["spot_per_troy_oz"] = {b: _number(f"spot_per_troy_oz.{b}", spot.get(b)) for b in SPOT_BASES}
    out["alloy_premium"] = _number("alloy_premium", book.get("alloy_premium", "0"))
    metals = _section(book, "metals")
    out["metals"] = {}
    for key in catalog.METALS:
        entry = metals.get(key)
        if not isinstance(entry, dict):
            raise PriceBookError(f"metals.{key}", "is missing")
        out["metals"][key] = {
            "price_per_gram": _number(f"metals.{key}.price_per_gram", entry.get("price_per_gram")),
            "density": _number(f"metals.{key}.density", entry.get("density"), "1"),
            "fineness": _number(f"metals.{key}.fineness", entry.get("fineness", catalog.METALS[key].fineness)),
            "casting_loss": _number(f"metals.{key}.casting_loss", entry.get("casting_loss", "0")),
        }
        if not 0 < Decimal(out["metals"][key]["fineness"]) <= 1:
            raise PriceBookError(f"metals.{key}.fineness", "is the precious share by weight: 0.585 for 14k")
        if Decimal(out["metals"][key]["casting_loss"]) > Decimal("0.5"):
            raise PriceBookError(f"metals.{key}.casting_loss", "is a share of the weight: 0.08 means 8%")
    carat = _section(book, "stone_per_carat")
    out["stone_per_carat"] = {key: _tiers(f"stone_per_carat.{key}", carat.get(key), non_decreasing=True)
                              for key, stone in catalog.STONE_TYPES.items() if not stone.by_piece}
    out["pearl_per_piece"] = _tiers("pearl_per_piece", book.get("pearl_per_piece"), non_decreasing=True)
    fees = _section(book, "setting_fee")
    out["setting_fee"] = {}
    for key in catalog.SETTINGS:
        given = fees.get(key)
        if not isinstance(given, dict):
            raise PriceBookError(f"setting_fee.{key}", "needs a fee for melee, small and centre stones")
        out["setting_fee"][key] = {c: _number(f"setting_fee.{key}.{c}", given.get(c)) for c in catalog.SIZE_CLASSES}
    factors = _section(book, "labor_metal_factor")
    out["labor_metal_factor"] = {c: _number(f"labor_metal_factor.{c}", factors.get(c), "0.01")
                                 for c in catalog.METAL_CLASSES}
    out["labor_minimum"] = _number("labor_minimum", book.get("labor_minimum", "0"))
    out["quality"], out["default_quality"] = _qualities(book)
    labor = _section(book, "labor")
    out["labor"] = {}
    for piece, styles in catalog.STYLES.items():
        given = labor.get(piece) or {}
        out["labor"][piece] = {s: _number(f"labor.{piece}.{s}", given.get(s)) for s in styles}
    out["design_fee"] = _number("design_fee", book.get("design_fee", "0"))
    finishing = _section(book, "finishing")
    out["finishing"] = {key: _number(f"finishing.{key}", finishing.get(key)) for key in catalog.FINISHES}
    markup = _section(book, "markup")
    out["markup"] = {}
    for category in MARKUP_CATEGORIES:
        out["markup"][category] = _tiers(f"markup.{category}", markup.get(category), non_decreasing=False,
                                         minimum_value="1")
    out["rounding"] = book.get("rounding", "unit")
    if out["rounding"] not in ROUNDING:
        raise PriceBookError("rounding", f"choose one of: {', '.join(ROUNDING)}")
    out["tax_rate"] = _number("tax_rate", book.get("tax_rate", "0"))
    if Decimal(out["tax_rate"]) > 50:
        raise PriceBookError("tax_rate", "is a percentage: 8.25 means 8.25%")
    out["deposit_pct"] = _number("deposit_pct", book.get("deposit_pct", "0"))
    if Decimal(out["deposit_pct"]) > 100:
        raise PriceBookError("deposit_pct", "is a percentage of the total, 0 to 100")
    try:
        days = int(book.get("validity_days", 14))
    except (TypeError, ValueError):
        raise PriceBookError("validity_days", "must be a whole number of days") from None
    if not 1 <= days <= 365:
        raise PriceBookError("validity_days", "must be between 1 and 365")
    out["validity_days"] = days
    return out


def _grades(path: str, given, grades: tuple[str, ...]) -> dict:
    """Price factors for grades listed best first: each positive, none above a better one."""
    if not isinstance(given, dict):
        raise PriceBookError(path, "is missing")
    out, last = {}, None
    for grade in grades:
        factor = _number(f"{path}.{grade}", given.get(grade), "0.01")
        if last is not None and Decimal(factor) > last:
            raise PriceBookError(f"{path}.{grade}", "a lower grade may not cost more than a better one")
        out[grade], last = factor, Decimal(factor)
    return out


def _qualities(book: dict) -> tuple[dict, dict]:
    quality = _section(book, "quality")
    out = {}
    for family in catalog.GRADED_DIAMONDS:
        scales = quality.get(family)
        if not isinstance(scales, dict):
            raise PriceBookError(f"quality.{family}", "is missing")
        out[family] = {"colour": _grades(f"quality.{family}.colour", scales.get("colour"), catalog.DIAMOND_COLOURS),
                       "clarity": _grades(f"quality.{family}.clarity", scales.get("clarity"), catalog.DIAMOND_CLARITIES)}
    out["gem"] = _grades("quality.gem", quality.get("gem"), catalog.GEM_GRADES)
    defaults = _section(book, "default_quality")
    chosen = {}
    for family, example in (("diamond", "diamond"), ("lab_diamond", "lab_diamond"), ("gem", "sapphire")):
        grade = str(defaults.get(family, "")).strip()
        if grade not in catalog.quality_choices(example):
            raise PriceBookError(f"default_quality.{family}", f"choose one of: {', '.join(catalog.quality_choices(example))}")
        chosen[family] = grade
    return out, chosen


def upgrade(book: dict) -> dict:
    """A price book saved by an older version, completed with today's defaults (keeping
    every figure the store set that still has a place)."""
    if book.get("schema") == SCHEMA:
        return book
    if book.get("schema") in (2, 3):
        # Schema 3 added 9k gold and four gems; schema 4 fees by stone size, labour by metal
        # class with a minimum, and grades. Every figure of the store's book is kept: its
        # flat setting fee stays the fee for every size until the store splits it.
        new = copy.deepcopy(book)
        new["schema"] = SCHEMA
        for section in ("metals", "stone_per_carat"):
            for key, default in DEFAULT_PRICE_BOOK[section].items():
                new[section].setdefault(key, copy.deepcopy(default))
        for key, fee in list(new.get("setting_fee", {}).items()):
            if not isinstance(fee, dict):
                new["setting_fee"][key] = {size: str(fee) for size in catalog.SIZE_CLASSES}
        for key in ("labor_metal_factor", "quality", "default_quality"):
            new.setdefault(key, copy.deepcopy(DEFAULT_PRICE_BOOK[key]))
        new.setdefault("labor_minimum", "0")
        return new
    new = copy.deepcopy(DEFAULT_PRICE_BOOK)
    new["currency"] = book.get("currency", new["currency"])
    for key, price in (book.get("metal_per_gram") or {}).items():
        if key in new["metals"]:
            new["metals"][key]["price_per_gram"] = price
    new["stone_per_carat"].update({k: v for k, v in (book.get("stone_per_carat") or {}).items()
                                   if k in new["stone_per_carat"]})
    new["setting_fee"].update({k: {"melee": str(v), "small": str(v), "centre": str(v)}
                               for k, v in (book.get("setting_fee") or {}).items() if k in new["setting_fee"]})
    for piece, price in (book.get("labor") or {}).items():
        if piece in new["labor"] and not isinstance(price, dict):
            new["labor"][piece] = {style: price for style in new["labor"][piece]}
    if "markup" in book and not isinstance(book["markup"], dict):
        new["markup"] = {c: [["0", str(book["markup"])]] for c in MARKUP_CATEGORIES}
    if "round_to" in book:
        new["rounding"] = "unit" if Decimal(str(book["round_to"])) >= 1 else "cent"
    new["validity_days"] = book.get("validity_days", new["validity_days"])
    return new



def preview(current_book: dict, new_book: dict) -> list[dict]:
    """The sample designs priced with the current book and with a proposed one."""
    rows = []
    for description, spec in SAMPLE_DESIGNS:
        before, after = quote(spec, current_book).total, quote(spec, new_book).total
        change = ((after - before) / before * 100).quantize(Decimal("0.1")) if before else Decimal(0)
        rows.append({"description": description, "before": str(before), "after": str(after), "change_pct": str(change)})
    return rows
