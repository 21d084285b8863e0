"""How much metal a piece takes: a volume model per piece type, times the alloy's density.

Rings: the band as a hollow cylinder, volume ~ pi x (d + t) x w x t x profile factor,
plus a head for each set stone. Pendants: head and bail, plus the chain. Earrings: a
pair. Bracelets and necklaces: chain by style, a tennis line, or a solid bangle.
Volumes are mm3; weights grams. Every term grows with size, width and density, so a
bigger piece never weighs less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from appliance.jewelry import catalog, ring_sizes
from appliance.jewelry.specs import Spec, StoneGroup

# Finished-chain metal per mm of length per mm2 of link width, by style, from the weights
# chain makers list (14k gold, 18 in / 457 mm: a 1 mm cable about 1.4 g, a 1.5 mm cable
# about 3 g, a 1 mm box about 1.9 g, a 2 mm rope about 8 g, a 2 mm curb about 5 g).
CHAIN_FILL = {"cable": 0.22, "box": 0.32, "rope": 0.33, "curb": 0.22, "figaro": 0.24, "snake": 0.38}
CLASP_MM3 = 30.0            # a lobster clasp and its jump rings, about 0.4 g in 14k
BANGLE_INNER_MM = 60.0


@dataclass(frozen=True)
class MetalPart:
    label: str
    weight_g: float


def head_mm3(group: StoneGroup) -> float:
    """Metal that holds one stone: prongs grow with the stone; a bezel wraps it."""
    w = (group.length_mm + group.width_mm) / 2
    if group.setting == "bezel":
        return math.pi * (w + 1.2) * 0.9 * (0.6 * w)
    if group.setting in ("pave", "channel", "halo"):
        return 0.25 * w ** 2       # beads or channel walls per stone
    return 2.3 * w ** 1.5


def _heads(spec: Spec, roles: tuple[str, ...]) -> float:
    return sum(head_mm3(g) * g.count for g in spec.stones if g.role in roles)


def _halo_frame(spec: Spec) -> float:
    center = spec.center
    if center is None or not any(g.setting == "halo" for g in spec.stones):
        return 0.0
    return math.pi * ((center.length_mm + center.width_mm) / 2 + 2.6) * 1.2 * 1.0


def _chain(spec: Spec, length_mm: float) -> float:
    return length_mm * spec.band_width_mm ** 2 * CHAIN_FILL[spec.chain_style] + CLASP_MM3


def ring_band_mm3(spec: Spec) -> float:
    d = ring_sizes.inner_diameter(spec.ring_size or 7.0)
    t, w = spec.band_thickness_mm, spec.band_width_mm
    return math.pi * (d + t) * w * t * catalog.PROFILES[spec.profile]


def metal_parts(spec: Spec, density: float | None = None) -> list[MetalPart]:
    """The metal of the piece in parts a jeweler weighs separately (a pendant and its
    chain), each with its finished weight in grams."""
    density = density if density is not None else catalog.METALS[spec.metal].density
    piece, style = spec.piece_type, spec.effective_style
    chain = 0.0
    if piece == "ring":
        volume = ring_band_mm3(spec) + _heads(spec, ("center", "side", "accent")) + _halo_frame(spec)
    elif piece == "pendant":
        body = 15.0 + _heads(spec, ("center", "side", "accent")) + _halo_frame(spec)
        volume = body if spec.stones else 15.0 + math.pi * 36 * 1.0       # a 12 mm disc
        chain = _chain(spec, spec.chain_length_mm or 450)
    elif piece == "earrings":
        findings = {"stud": 18.0, "drop": 30.0, "hoop": math.pi * (spec.hoop_diameter_mm or 15) * spec.band_width_mm * spec.band_thickness_mm * 0.6}
        each = findings[style] + _heads(spec, ("center", "side", "accent")) + _halo_frame(spec)
        volume = 2 * (each if spec.stones or style == "hoop" else each + 33.0)
    elif piece == "bracelet":
        length = spec.bracelet_length_mm or 180
        w, t = spec.band_width_mm, spec.band_thickness_mm
        if style == "bangle":
            volume = math.pi * (BANGLE_INNER_MM + t) * w * t
        elif style == "tennis":
            volume = length * w * t * 0.45 + _heads(spec, ("center", "side", "accent"))
        else:
            volume = _chain(spec, length) + _heads(spec, ("center", "side", "accent"))
    else:  # necklace
        length = spec.chain_length_mm or 450
        if style == "riviera":
            volume = length * spec.band_width_mm * spec.band_thickness_mm * 0.45 + _heads(spec, ("center", "side", "accent"))
        else:
            volume = _heads(spec, ("center", "side", "accent")) + _halo_frame(spec) + (15.0 if spec.stones else 0.0)
            chain = _chain(spec, length)
    metal = catalog.METALS[spec.metal].label
    parts = [MetalPart(f"{metal} {catalog.STYLES[piece][style]}", volume * density / 1000)] if volume > 0 else []
    if chain:
        parts.append(MetalPart(f"{metal} {spec.chain_style} chain, {spec.chain_length_mm} mm", chain * density / 1000))
    return parts


def metal_weight_g(spec: Spec, density: float | None = None) -> float:
    """The piece's finished metal weight in grams (all parts)."""
    return sum(part.weight_g for part in metal_parts(spec, density))
