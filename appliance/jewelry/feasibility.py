"""What a bench jeweler would raise before making a piece. Each flag has a gentle line
for the customer and a plain one for the jeweler; none blocks an order."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.jewelry import ring_sizes
from appliance.jewelry.specs import Spec

# Plausible finished metal weight (g) per piece type; outside it the quote is suspect.
PLAUSIBLE_WEIGHT = {"ring": (0.8, 30.0), "pendant": (0.4, 60.0), "earrings": (0.3, 30.0),
                    "bracelet": (2.0, 150.0), "necklace": (1.5, 200.0)}


@dataclass(frozen=True)
class Flag:
    code: str
    severity: str        # warning | info
    customer: str
    staff: str


def check(spec: Spec, weight_g: float) -> list[Flag]:
    """Every concern the spec raises, most important first."""
    flags: list[Flag] = []
    center = spec.center
    if spec.piece_type == "ring":
        if center and center.carat_each >= 0.9 and (spec.band_width_mm < 1.8 or spec.band_thickness_mm < 1.3):
            flags.append(Flag("band_too_thin", "warning",
                              "A stone this size is happiest on a slightly sturdier band; the jeweler may suggest one.",
                              f"Band {spec.band_width_mm:g} x {spec.band_thickness_mm:g} mm is thin for a "
                              f"{center.carat_each:.2f} ct centre stone (want at least 1.8 x 1.3 mm)."))
        if center and center.width_mm > 4.5 * spec.band_width_mm:
            flags.append(Flag("head_too_wide", "warning",
                              "The stone is much wider than the band; the jeweler will check the balance with you.",
                              f"Centre stone {center.width_mm:g} mm wide on a {spec.band_width_mm:g} mm band: "
                              "the head will overhang; widen the shank or taper it."))
        if spec.effective_style == "eternity":
            flags.append(Flag("eternity_not_resizable", "info",
                              "Eternity bands are set all the way around, so they cannot be resized later — "
                              "please double-check the size.",
                              "Eternity band: cannot be resized after setting; confirm the size with the customer."))
        for group in spec.stones:
            if group.setting in ("pave", "channel") and group.role == "accent" and \
                    spec.band_width_mm < group.width_mm + 0.6:
                flags.append(Flag("pave_band_too_narrow", "warning",
                                  "The band is narrow for stones along it; the jeweler may widen it slightly.",
                                  f"{group.setting.capitalize()} stones of {group.width_mm:g} mm need a band of at "
                                  f"least {group.width_mm + 0.6:.1f} mm; it is {spec.band_width_mm:g} mm."))
                break
        low, high = ring_sizes.USUAL_US
        if spec.ring_size is not None and not low <= spec.ring_size <= high:
            flags.append(Flag("unusual_ring_size", "info",
                              "That is an unusual ring size; the jeweler will confirm it with you before making it.",
                              f"US size {spec.ring_size:g} is outside the usual {low:g}-{high:g}: confirm it."))
    low, high = PLAUSIBLE_WEIGHT[spec.piece_type]
    if not low <= weight_g <= high:
        flags.append(Flag("implausible_weight", "warning",
                          "The jeweler will review the metal estimate for this design.",
                          f"Estimated metal {weight_g:.1f} g is outside {low:g}-{high:g} g for a "
                          f"{spec.piece_type}: check the dimensions."))
    return flags
