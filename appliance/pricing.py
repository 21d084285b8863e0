"""The quote engine: pure functions from a spec and a price book to a Quote.

Metal weight comes from the piece's geometry and the alloy's density; carats from stone
sizes and shapes; prices from the store's price book. Money is Decimal throughout and
every retail line is rounded before the total is summed, so the total always equals the
lines a customer reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from appliance import catalog
from appliance.specs import Spec

D = Decimal


class PriceBookError(ValueError):
    """A price book entry is missing or invalid; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


DEFAULT_PRICE_BOOK: dict = {
    "currency": "USD",
    "markup": "2.2",
    "round_to": "1",
    "validity_days": 14,
    "casting_loss": "0.10",
    "metal_per_gram": {
        "10k_yellow": "58", "10k_white": "60", "10k_rose": "58",
        "14k_yellow": "80", "14k_white": "83", "14k_rose": "80",
        "18k_yellow": "102", "18k_white": "106", "18k_rose": "102",
        "platinum": "56", "palladium": "48", "sterling": "1.80",
    },
    # Cost per carat by stone type, tiered by the carat weight of one stone:
    # [[from_carat, price_per_carat], ...] in ascending order.
    "stone_per_carat": {
        "diamond": [["0", "900"], ["0.3", "2200"], ["0.7", "4200"], ["1.0", "6200"], ["2.0", "11000"]],
        "lab_diamond": [["0", "300"], ["0.3", "320"], ["0.7", "360"], ["1.0", "400"], ["2.0", "450"]],
        "moissanite": [["0", "120"], ["1.0", "150"]],
        "sapphire": [["0", "350"], ["0.5", "700"], ["1.0", "1300"], ["2.0", "1900"]],
        "ruby": [["0", "450"], ["0.5", "900"], ["1.0", "1800"], ["2.0", "2600"]],
        "emerald": [["0", "400"], ["0.5", "800"], ["1.0", "1500"], ["2.0", "2200"]],
    },
    "setting_fee": {"prong": "45", "bezel": "85", "pave": "14", "channel": "22", "halo": "16"},
    "labor": {"ring": "280", "pendant": "200", "earrings": "240", "bracelet": "380", "necklace": "220"},
}



@dataclass(frozen=True)
class QuoteLine:
    kind: str
    label: str
    amount: Decimal          # retail, what the customer pays
    cost: Decimal            # the store's cost behind it
    weight_g: float | None = None
    carat_total: float | None = None


@dataclass(frozen=True)
class Quote:
    currency: str
    lines: list[QuoteLine]
    total: Decimal
    cost_total: Decimal
    valid_until: date
    price_book_version: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def margin(self) -> Decimal:
        return self.total - self.cost_total

    def public(self) -> dict:
        """What a customer sees: retail lines and the total, amounts as decimal strings."""
        lines = []
        for line in self.lines:
            item = {"kind": line.kind, "label": line.label, "amount": str(line.amount)}
            if line.weight_g is not None:
                item["weight_g"] = round(line.weight_g, 2)
            if line.carat_total is not None:
                item["carat_total"] = round(line.carat_total, 3)
            lines.append(item)
        return {"currency": self.currency, "lines": lines, "total": str(self.total),
                "valid_until": self.valid_until.isoformat(), "price_book_version": self.price_book_version}

    def staff(self) -> dict:
        """What the jeweler sees: the retail quote plus cost and margin per line and in total."""
        data = self.public()
        for item, line in zip(data["lines"], self.lines):
            item["cost"] = str(line.cost)
            item["margin"] = str(line.amount - line.cost)
        data["cost_total"] = str(self.cost_total)
        data["margin"] = str(self.margin)
        data["margin_pct"] = str((self.margin / self.total * 100).quantize(D("0.1"))) if self.total else "0"
        return data


def validate_price_book(book: dict) -> dict:
    """Check a price book a store submitted; returns it normalised or raises PriceBookError."""
    def money(path: str, value) -> str:
        try:
            amount = D(str(value))
        except (InvalidOperation, ValueError):
            raise PriceBookError(path, f"{value!r} is not a number") from None
        if not amount.is_finite() or amount < 0:
            raise PriceBookError(path, "must be zero or more")
        return str(amount)

    out: dict = {}
    currency = str(book.get("currency", "")).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise PriceBookError("currency", "must be a three-letter currency code such as USD")
    out["currency"] = currency
    out["markup"] = money("markup", book.get("markup"))
    if D(out["markup"]) < 1:
        raise PriceBookError("markup", "must be at least 1 (a multiplier on cost)")
    out["round_to"] = money("round_to", book.get("round_to", "0.01"))
    if D(out["round_to"]) <= 0:
        raise PriceBookError("round_to", "must be more than zero")
    out["casting_loss"] = money("casting_loss", book.get("casting_loss", "0"))
    try:
        days = int(book.get("validity_days", 14))
    except (TypeError, ValueError):
        raise PriceBookError("validity_days", "must be a whole number of days") from None
    if not 1 <= days <= 365:
        raise PriceBookError("validity_days", "must be between 1 and 365")
    out["validity_days"] = days
    for section, keys in (("metal_per_gram", catalog.METALS), ("setting_fee", catalog.SETTINGS),
                          ("labor", catalog.PIECE_TYPES)):
        given = book.get(section) or {}
        out[section] = {}
        for key in keys:
            if key not in given:
                raise PriceBookError(f"{section}.{key}", "is missing")
            out[section][key] = money(f"{section}.{key}", given[key])
    out["stone_per_carat"] = {}
    for key in catalog.STONE_TYPES:
        tiers = (book.get("stone_per_carat") or {}).get(key)
        if not tiers:
            raise PriceBookError(f"stone_per_carat.{key}", "needs at least one tier")
        clean, last = [], None
        for i, tier in enumerate(tiers):
            path = f"stone_per_carat.{key}.{i}"
            if not isinstance(tier, (list, tuple)) or len(tier) != 2:
                raise PriceBookError(path, "each tier is [from_carat, price_per_carat]")
            start, price = money(path, tier[0]), money(path, tier[1])
            if last is not None and D(start) <= last:
                raise PriceBookError(path, "tiers must be in ascending order of carat")
            last = D(start)
            clean.append([start, price])
        if D(clean[0][0]) != 0:
            raise PriceBookError(f"stone_per_carat.{key}.0", "the first tier must start at 0 carat")
        out["stone_per_carat"][key] = clean
    return out


def metal_weight_g(spec: Spec) -> float:
    """Finished metal weight in grams from the piece's geometry and the alloy's density."""
    density = catalog.METALS[spec.metal].density
    w, t = spec.band_width_mm, spec.band_thickness_mm
    center = spec.center
    center_w = center.width_mm if center else 0.0
    if spec.piece_type == "ring":
        d = catalog.ring_inner_diameter_mm(spec.ring_size or 7.0)
        volume = math.pi * (d + t) * w * t * catalog.PROFILES[spec.profile]
        if center:
            volume += 2.3 * center_w ** 1.5      # head and prongs grow with the stone
        if any(g.setting == "halo" for g in spec.stones):
            volume += math.pi * (center_w + 2.6) * 1.2 * 1.0
    elif spec.piece_type == "pendant":
        volume = 40 + 3.0 * center_w ** 2 + 0.30 * (spec.chain_length_mm or 450)
    elif spec.piece_type == "earrings":
        volume = 2 * (25 + 2.2 * center_w ** 2)
    elif spec.piece_type == "bracelet":
        volume = 180 * w * t * 0.55
    else:  # necklace
        volume = (spec.chain_length_mm or 450) * w * t * 0.25 + 2.0 * center_w ** 2
    return volume * density / 1000


def _per_carat(tiers: list, carat_each: float) -> Decimal:
    price = D(tiers[0][1])
    for start, tier_price in tiers:
        if D(str(round(carat_each, 4))) >= D(start):
            price = D(tier_price)
    return price


def quote(spec: Spec, price_book: dict, *, version: int | None = None, today: date | None = None) -> Quote:
    """Price a spec with a validated price book: retail lines, total, cost and validity."""
    markup = D(price_book["markup"])
    step = D(price_book["round_to"])

    def retail(cost: Decimal) -> Decimal:
        return ((cost * markup) / step).quantize(D("1"), rounding=ROUND_HALF_UP) * step

    lines: list[QuoteLine] = []
    metal = catalog.METALS[spec.metal]
    weight = metal_weight_g(spec)
    billed = D(str(weight)) * (1 + D(price_book["casting_loss"]))
    metal_cost = (billed * D(price_book["metal_per_gram"][spec.metal])).quantize(D("0.01"))
    lines.append(QuoteLine("metal", f"{metal.label}, {weight:.1f} g", retail(metal_cost), metal_cost, weight_g=weight))

    pieces = 2 if spec.piece_type == "earrings" else 1
    settings_cost, stones_set = D(0), 0
    for group in spec.stones:
        count = group.count * pieces
        carats = group.carat_each * count
        per_carat = _per_carat(price_book["stone_per_carat"][group.type], group.carat_each)
        cost = (D(str(carats)) * per_carat).quantize(D("0.01"))
        label = f"{catalog.STONE_ROLES[group.role].capitalize()}: " + (
            group.describe() if count == group.count else f"{count} x {group.carat_each:.2f} ct "
            f"{catalog.SHAPES[group.shape].label} {catalog.STONE_TYPES[group.type].label} (pair)")
        lines.append(QuoteLine("stone", label, retail(cost), cost, carat_total=carats))
        settings_cost += D(price_book["setting_fee"][group.setting]) * count
        stones_set += count
    if stones_set:
        lines.append(QuoteLine("setting", f"Setting {stones_set} stone{'s' if stones_set > 1 else ''}",
                               retail(settings_cost), settings_cost))
    labor_cost = D(price_book["labor"][spec.piece_type])
    lines.append(QuoteLine("labor", f"Craftsmanship ({catalog.PIECE_TYPES[spec.piece_type]}, "
                           f"{catalog.FINISHES[spec.finish]} finish)", retail(labor_cost), labor_cost))

    today = today or datetime.now(timezone.utc).date()
    return Quote(
        currency=price_book["currency"],
        lines=lines,
        total=sum((line.amount for line in lines), D(0)),
        cost_total=sum((line.cost for line in lines), D(0)),
        valid_until=today + timedelta(days=int(price_book["validity_days"])),
        price_book_version=version,
    )
