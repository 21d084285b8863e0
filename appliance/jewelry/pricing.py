"""The quote engine: pure functions from a spec and a price book to a Quote.

Cost comes from the piece's metal weight (geometry x the price book's density) and the
alloy's price per gram, each stone group's carats at the per-carat price of its size
tier, setting fees per stone, and labour for the piece and style. Retail is cost through
the store's markup brackets per category (like tax brackets: each slice of cost at its
own multiplier, so more cost never means a lower price). The total is rounded as the
store chooses and the rounding lands on the craftsmanship line, so the lines always add
up to the total. Money is Decimal throughout; amounts leave as strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from appliance.jewelry import catalog, feasibility, geometry
from appliance.jewelry.specs import Spec

D = Decimal
CENT = D("0.01")
TROY_OUNCE_G = "31.1034768"


@dataclass(frozen=True)
class QuoteLine:
    kind: str                 # metal | stone | setting | labor | other
    label: str
    amount: Decimal           # retail, what the customer pays
    cost: Decimal             # the store's cost behind it
    weight_g: float | None = None
    carat_total: float | None = None
    tax: bool = False
    # Why it costs what it costs, in retail terms: (quantity, unit) -> amount / quantity each.
    quantity: float | None = None
    unit: str | None = None

    @property
    def basis(self) -> dict | None:
        """'9.3 g at 144.05 per g', '2.00 ct at 600.00 per ct', '82 stones at 8.80 each'."""
        if not self.quantity or not self.unit:
            return None
        each = (self.amount / D(str(self.quantity))).quantize(CENT, rounding=ROUND_HALF_UP)
        return {"quantity": round(self.quantity, 3), "unit": self.unit, "unit_price": str(each)}

    @property
    def markup(self) -> Decimal | None:
        return (self.amount / self.cost).quantize(CENT) if self.cost else None


@dataclass(frozen=True)
class Quote:
    currency: str
    lines: list[QuoteLine]
    total: Decimal
    cost_total: Decimal
    valid_until: date
    deposit: Decimal = D(0)
    price_book_version: int | None = None
    flags: list[feasibility.Flag] = field(default_factory=list)

    @property
    def margin(self) -> Decimal:
        """What the store keeps before overheads: retail less cost, tax excluded."""
        return sum((line.amount - line.cost for line in self.lines if not line.tax), D(0))

    def public(self) -> dict:
        """What a customer sees: retail lines, the total, the deposit, gentle notes."""
        lines = []
        for line in self.lines:
            item = {"kind": line.kind, "label": line.label, "amount": str(line.amount)}
            if line.weight_g is not None:
                item["weight_g"] = round(line.weight_g, 2)
            if line.carat_total is not None:
                item["carat_total"] = round(line.carat_total, 3)
            if line.basis is not None:
                item["basis"] = line.basis
            lines.append(item)
        return {"currency": self.currency, "lines": lines, "total": str(self.total), "deposit": str(self.deposit),
                "valid_until": self.valid_until.isoformat(), "price_book_version": self.price_book_version,
                "notes": [f.customer for f in self.flags]}

    def staff(self) -> dict:
        """What the jeweler sees: the retail quote plus cost, markup and margin per line,
        and the feasibility flags in plain words."""
        data = self.public()
        for item, line in zip(data["lines"], self.lines):
            item["cost"] = str(line.cost)
            item["markup"] = str(line.markup) if line.markup is not None else None
            item["margin"] = str(line.amount - line.cost)
        data["cost_total"] = str(self.cost_total)
        data["margin"] = str(self.margin)
        retail_total = self.total - sum((line.amount for line in self.lines if line.tax), D(0))
        data["margin_pct"] = str((self.margin / retail_total * 100).quantize(D("0.1"))) if retail_total else "0"
        data["flags"] = [{"code": f.code, "severity": f.severity, "message": f.staff} for f in self.flags]
        return data


def price_per_gram(book: dict, metal: str) -> Decimal:
    """The alloy's price per gram: set per alloy, or from the spot price of its precious
    metal (per troy ounce) x fineness x (1 + alloy premium)."""
    if book["metal_pricing"] == "spot":
        spot = D(book["spot_per_troy_oz"][catalog.METALS[metal].base]) / D(TROY_OUNCE_G)
        fineness = D(book["metals"][metal]["fineness"])
        return (spot * fineness * (1 + D(book["alloy_premium"]))).quantize(D("0.0001"))
    return D(book["metals"][metal]["price_per_gram"])


def quality_factor(book: dict, stone_type: str, grade: str | None) -> Decimal:
    """The price factor of a stone's grade (its family's standard grade when None)."""
    family = catalog.quality_family(stone_type)
    if family is None:
        return D(1)
    grade = grade or book["default_quality"][family]
    if family == "gem":
        return D(book["quality"]["gem"][grade])
    colour, clarity = grade.split("/")
    scales = book["quality"][family]
    return D(scales["colour"][colour]) * D(scales["clarity"][clarity])


def retail(cost: Decimal, brackets: list, step: Decimal = CENT) -> Decimal:
    """Cost through progressive markup brackets [[from_cost, multiplier], ...], rounded
    to `step` (a cent, or a whole unit when the store rounds its totals)."""
    total = D(0)
    for i, (start, multiplier) in enumerate(brackets):
        start = D(start)
        end = D(brackets[i + 1][0]) if i + 1 < len(brackets) else None
        if cost <= start:
            break
        slice_ = (min(cost, end) if end is not None else cost) - start
        total += slice_ * D(multiplier)
    return total.quantize(step, rounding=ROUND_HALF_UP)


def round_total(amount: Decimal, mode: str) -> Decimal:
    """The store's rounding: cent, unit, five, or ninety_nine (up to the next x.99)."""
    if mode == "unit":
        return amount.quantize(D("1"), rounding=ROUND_HALF_UP)
    if mode == "five":
        return (amount / 5).quantize(D("1"), rounding=ROUND_HALF_UP) * 5
    if mode == "ninety_nine":
        return amount.quantize(D("1"), rounding=ROUND_CEILING) - CENT if amount % 1 != D("0.99") else amount
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _per_unit(tiers: list, size: float) -> Decimal:
    """The price of the highest tier whose threshold `size` reaches."""
    price = D(tiers[0][1])
    for start, tier_price in tiers:
        if D(str(round(size, 4))) >= D(start):
            price = D(tier_price)
    return price


def quote(spec: Spec, book: dict, *, version: int | None = None, today: date | None = None) -> Quote:
    """Price a spec with a validated price book."""
    markup = book["markup"]
    step = CENT if book["rounding"] == "cent" else D("1")
    lines: list[QuoteLine] = []
    metal_info = book["metals"][spec.metal]
    per_gram = price_per_gram(book, spec.metal)
    loss = 1 + D(metal_info["casting_loss"])
    for part in geometry.metal_parts(spec, float(metal_info["density"])):
        cost = (D(str(part.weight_g)) * loss * per_gram).quantize(CENT)
        lines.append(QuoteLine("metal", f"{part.label}, {part.weight_g:.1f} g", retail(cost, markup["metal"], step), cost,
                               weight_g=part.weight_g, quantity=round(part.weight_g, 2), unit="g"))

    pieces = 2 if spec.piece_type == "earrings" else 1
    setting_cost, stones_set, by_class = D(0), 0, {}
    for group in spec.stones:
        count = group.count * pieces
        role = catalog.STONE_ROLES[group.role].capitalize()
        pair = " (pair)" if pieces == 2 else ""
        if group.by_piece:
            cost = (_per_unit(book["pearl_per_piece"], group.length_mm) * count).quantize(CENT)
            lines.append(QuoteLine("stone", f"{role}: {count} x {group.length_mm:g} mm "
                                   f"{catalog.STONE_TYPES[group.type].label}{pair}", retail(cost, markup["stone"], step), cost,
                                   quantity=count, unit="pearl"))
        else:
            carats = group.carat_each * count
            per_carat = _per_unit(book["stone_per_carat"][group.type], group.carat_each)
            cost = (D(str(carats)) * per_carat * quality_factor(book, group.type, group.quality)).quantize(CENT)
            family = catalog.quality_family(group.type)
            grade = f", {group.quality or book['default_quality'][family]}" if family else ""
            stone = catalog.STONE_TYPES[group.type].label
            label = (f"{group.carat_each:.2f} ct {catalog.SHAPES[group.shape].label} {stone}{grade}" if count == 1 else
                     f"{count} x {group.carat_each:.3f} ct {catalog.SHAPES[group.shape].label} {stone}{grade}")
            lines.append(QuoteLine("stone", f"{role}: {label}{pair}", retail(cost, markup["stone"], step), cost,
                                   carat_total=carats, quantity=round(carats, 3), unit="ct"))
        size = catalog.size_class(group.type, group.carat_each, group.length_mm)
        setting_cost += D(book["setting_fee"][group.setting][size]) * count
        stones_set += count
        by_class[size] = by_class.get(size, 0) + count
    if stones_set:
        detail = ", ".join(f"{n} {size}" for size, n in sorted(by_class.items(), key=lambda x: catalog.SIZE_CLASSES.index(x[0])))
        lines.append(QuoteLine("setting", f"Setting {stones_set} stone{'s' if stones_set > 1 else ''} ({detail})",
                               retail(setting_cost, markup["setting"], step), setting_cost,
                               quantity=stones_set, unit="stone"))

    style = spec.effective_style
    metal_class = catalog.METALS[spec.metal].base
    work = D(book["labor"][spec.piece_type][style]) * D(book["labor_metal_factor"][metal_class])
    labor_cost = max(work, D(book["labor_minimum"])).quantize(CENT) + D(book["finishing"][spec.finish])
    labor_label = (f"Craftsmanship: {catalog.STYLES[spec.piece_type][style]}, "
                   f"{catalog.FINISHES[spec.finish]} finish")
    if D(book["design_fee"]) > 0:
        design_cost = D(book["design_fee"])
        lines.append(QuoteLine("other", "Custom design", retail(design_cost, markup["other"], step), design_cost))
    labor = QuoteLine("labor", labor_label, retail(labor_cost, markup["labor"], step), labor_cost)

    # Round the total the store's way and let the craftsmanship line carry the difference.
    before = sum((line.amount for line in lines), D(0)) + labor.amount
    rounded = round_total(before, book["rounding"])
    lines.append(QuoteLine("labor", labor.label, labor.amount + (rounded - before), labor.cost))
    tax_rate = D(book["tax_rate"])
    if tax_rate > 0:
        tax = (rounded * tax_rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        lines.append(QuoteLine("other", f"Tax {tax_rate.normalize():f}%", tax, D(0), tax=True))

    total = sum((line.amount for line in lines), D(0))
    today = today or datetime.now(timezone.utc).date()
    return Quote(
        currency=book["currency"],
        lines=lines,
        total=total,
        cost_total=sum((line.cost for line in lines), D(0)),
        valid_until=today + timedelta(days=int(book["validity_days"])),
        deposit=(total * D(book["deposit_pct"]) / 100).quantize(CENT, rounding=ROUND_HALF_UP),
        price_book_version=version,
        flags=feasibility.check(spec, sum(line.weight_g or 0 for line in lines if line.kind == "metal")),
    )


def format_money(value, currency: str = "USD") -> str:
    """'1234.5' -> '$1,234.50' (or '1,234.50 EUR' for currencies without a symbol here)."""
    amount = Decimal(str(value))
    symbol = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    text = f"{amount:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}"
