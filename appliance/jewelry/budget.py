"""A customer's budget beside the quote: when the piece costs more, the two or three
changes a jeweler would suggest that bring it under, each with its new total. Pure: a
spec, a price book and a budget in; changed specs and totals out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from appliance.jewelry import catalog
from appliance.jewelry.pricing import quote
from appliance.jewelry.specs import Spec

MAX_OPTIONS = 3


@dataclass(frozen=True)
class Option:
    label: str            # what changes, in the customer's words
    spec: Spec
    total: Decimal


def _gold_14k(metal: str) -> str | None:
    """The 14k alloy of the same colour (platinum and palladium: 14k white)."""
    if metal in ("platinum", "palladium"):
        return "14k_white"
    karat, _, colour = metal.partition("_")
    if karat in ("18k", "22k"):
        return f"14k_{colour}" if f"14k_{colour}" in catalog.METALS else "14k_yellow"
    return None


def _with_stones(spec: Spec, stones: list[dict]) -> Spec:
    return Spec.model_validate({**spec.model_dump(), "stones": stones})


def _lab(spec: Spec) -> Spec:
    return _with_stones(spec, [{**g.model_dump(), "type": "lab_diamond"} if g.type == "diamond" else g.model_dump()
                               for g in spec.stones])


def _alloy(spec: Spec) -> Spec:
    return spec.model_copy(update={"metal": _gold_14k(spec.metal) or spec.metal})


def _grade_down(spec: Spec, book: dict) -> Spec:
    return _with_stones(spec, [{**g.model_dump(), "quality": _one_grade_down(g.type, g.quality, book)}
                               if catalog.quality_choices(g.type) else g.model_dump() for g in spec.stones])


def _no_band_stones(spec: Spec) -> Spec:
    return _with_stones(spec, [g.model_dump() for g in spec.stones
                               if not (g.role == "accent" and g.setting != "halo")])


def _changes(spec: Spec, book: dict) -> list[tuple[str, object]]:
    """Single changes that lower the price and apply to this spec: (label, change)."""
    out = []
    if any(g.type == "diamond" for g in spec.stones):
        out.append(("Lab-grown diamonds instead of natural", _lab))
    if (alloy := _gold_14k(spec.metal)) is not None:
        out.append((f"{catalog.METALS[alloy].label} instead of {catalog.METALS[spec.metal].label}", _alloy))
    if _grade_down(spec, book) != spec:
        out.append(("A grade lower on the stones", lambda s: _grade_down(s, book)))
    if any(g.role == "accent" and g.setting != "halo" for g in spec.stones):
        out.append(("No small stones on the band", _no_band_stones))
    return out


def _one_grade_down(stone_type: str, grade: str | None, book: dict) -> str:
    """One step lower than the stone's grade (the store's standard when none is chosen)."""
    family = catalog.quality_family(stone_type)
    current = grade or book["default_quality"][family]
    if family == "gem":
        grades = catalog.GEM_GRADES
        return grades[min(grades.index(current) + 1, len(grades) - 1)]
    colour, clarity = current.split("/")
    colours, clarities = catalog.DIAMOND_COLOURS, catalog.DIAMOND_CLARITIES
    return f"{colours[min(colours.index(colour) + 1, len(colours) - 1)]}/" \
           f"{clarities[min(clarities.index(clarity) + 1, len(clarities) - 1)]}"


def _smaller_centre(spec: Spec, book: dict, budget: Decimal) -> tuple[str, Spec, Decimal] | None:
    """The largest centre stone, in steps of 0.05 ct, that brings the piece under budget."""
    centre = spec.center
    if centre is None or centre.by_piece or centre.carat_each <= 0.15:
        return None
    index = spec.stones.index(centre)

    def with_carat(carat: float) -> tuple[Spec, Decimal]:
        length, width = catalog.stone_size_for_carat(centre.type, centre.shape, carat)
        stones = list(spec.stones)
        stones[index] = centre.model_copy(update={"length_mm": length, "width_mm": width})
        smaller = Spec.model_validate({**spec.model_dump(), "stones": [g.model_dump() for g in stones]})
        return smaller, quote(smaller, book).total

    # The price rises with the carat: a binary search over 0.05 ct steps finds the largest that fits.
    low, high = 2, int(centre.carat_each / 0.05) - 1          # in steps: 0.10 ct up to just under now
    best = None
    while low <= high:
        middle = (low + high) // 2
        smaller, total = with_carat(round(middle * 0.05, 2))
        if total <= budget:
            best, low = (middle, smaller, total), middle + 1
        else:
            high = middle - 1
    if best is None:
        return None
    steps, smaller, total = best
    return f"A {steps * 0.05:.2f} ct centre stone instead of {centre.carat_each:.2f} ct", smaller, total


def options(spec: Spec, book: dict) -> list[Option]:
    """When the spec's quote is over its budget: up to three changes, alone or paired,
    that bring it under, each with its total (the closest to the budget first, so the
    customer gives up the least). None when there is no budget or it is met."""
    if spec.budget is None:
        return []
    budget = Decimal(spec.budget)
    if quote(spec, book).total <= budget:
        return []
    found: list[Option] = []
    singles = _changes(spec, book)
    for label, change in singles:
        changed = change(spec)
        total = quote(changed, book).total
        if total <= budget:
            found.append(Option(label, changed, total))
    if (smaller := _smaller_centre(spec, book, budget)) is not None:
        found.append(Option(*smaller))
    if len(found) < MAX_OPTIONS:
        # Pairs of changes that are not enough alone.
        alone = {label for label, _, in ((o.label, o) for o in found)}
        short = [(label, change) for label, change in singles if label not in alone]
        for i, (first, one) in enumerate(short):
            for second, other in short[i + 1:]:
                both = other(one(spec))
                total = quote(both, book).total
                if total <= budget:
                    found.append(Option(f"{first}, and {second[0].lower()}{second[1:]}", both, total))
    found.sort(key=lambda o: -o.total)
    return found[:MAX_OPTIONS]
