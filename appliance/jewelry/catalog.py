"""The jeweler's facts: metals, stones, shapes, settings, piece types and their styles.
Plain data plus the stone geometry that follows from it. Ring sizes live in
`appliance.jewelry.ring_sizes`, piece geometry in `appliance.jewelry.geometry`.

Sources for the numbers (checked against published tables; the price book can override
every metal figure, since real alloys vary):
- Alloy densities, g/cm3: casting suppliers' alloy data sheets (Hoover & Strong, Stuller).
  Palladium 950 is ~11.0, not pure palladium's 12.02; platinum 950 ranges 20.1 (Ru)
  to 21.4 (Ir), 20.7 (Co) is the common casting alloy.
- Specific gravities: GIA gem reference (diamond 3.52, corundum 4.00, beryl 2.72 for
  emerald and aquamarine, morganite 2.80, quartz 2.65, topaz 3.53, zoisite 3.35,
  garnet ~3.9, moissanite 3.21, peridot 3.34, opal 2.15, tourmaline 3.06, citrine 2.65).
- Carat formulas: the trade's weight-estimation formulas (L x W x depth x factor, the
  factor rising with the length-to-width ratio for step cuts, pears and marquises).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metal:
    key: str
    label: str
    density: float          # g/cm3
    fineness: float         # share of the precious metal by weight
    base: str               # gold | platinum | palladium | silver: whose spot price applies
    casting_loss: float     # share of extra metal the casting and finishing consume
    rgb: tuple[int, int, int]


METALS: dict[str, Metal] = {m.key: m for m in (
    # 9k (37.5%) is the UK and Australian entry alloy; densities from casting alloy sheets.
    Metal("9k_yellow", "9k yellow gold", 11.20, 0.375, "gold", 0.08, (220, 182, 100)),
    Metal("9k_white", "9k white gold", 10.90, 0.375, "gold", 0.08, (212, 212, 208)),
    Metal("9k_rose", "9k rose gold", 11.30, 0.375, "gold", 0.08, (224, 162, 134)),
    Metal("10k_yellow", "10k yellow gold", 11.57, 0.417, "gold", 0.08, (222, 184, 96)),
    Metal("10k_white", "10k white gold", 11.07, 0.417, "gold", 0.08, (214, 214, 210)),
    Metal("10k_rose", "10k rose gold", 11.59, 0.417, "gold", 0.08, (226, 160, 130)),
    Metal("14k_yellow", "14k yellow gold", 13.07, 0.585, "gold", 0.08, (226, 184, 88)),
    Metal("14k_white", "14k white gold", 12.61, 0.585, "gold", 0.08, (218, 218, 214)),
    Metal("14k_rose", "14k rose gold", 13.26, 0.585, "gold", 0.08, (228, 156, 122)),
    Metal("18k_yellow", "18k yellow gold", 15.58, 0.750, "gold", 0.08, (232, 186, 76)),
    Metal("18k_white", "18k white gold", 14.64, 0.750, "gold", 0.08, (222, 222, 218)),
    Metal("18k_rose", "18k rose gold", 15.18, 0.750, "gold", 0.08, (230, 150, 116)),
    Metal("22k_yellow", "22k yellow gold", 17.80, 0.916, "gold", 0.08, (236, 190, 70)),
    Metal("platinum", "platinum 950", 20.70, 0.950, "platinum", 0.10, (205, 208, 212)),
    Metal("palladium", "palladium 950", 11.00, 0.950, "palladium", 0.10, (196, 196, 192)),
    Metal("sterling", "sterling silver", 10.36, 0.925, "silver", 0.06, (200, 202, 206)),
)}


@dataclass(frozen=True)
class StoneType:
    key: str
    label: str
    gravity: float          # specific gravity; the carat formulas are written for diamond
    rgb: tuple[int, int, int]
    by_piece: bool = False  # priced per piece by diameter (pearls), not per carat


STONE_TYPES: dict[str, StoneType] = {s.key: s for s in (
    StoneType("diamond", "natural diamond", 3.52, (236, 244, 250)),
    StoneType("lab_diamond", "lab-grown diamond", 3.52, (236, 244, 250)),
    StoneType("moissanite", "moissanite", 3.21, (238, 246, 244)),
    StoneType("sapphire", "blue sapphire", 4.00, (40, 70, 170)),
    StoneType("ruby", "ruby", 4.00, (170, 20, 50)),
    StoneType("emerald", "emerald", 2.72, (20, 140, 80)),
    StoneType("aquamarine", "aquamarine", 2.72, (120, 190, 215)),
    StoneType("morganite", "morganite", 2.80, (238, 178, 170)),
    StoneType("amethyst", "amethyst", 2.65, (130, 70, 170)),
    StoneType("topaz", "blue topaz", 3.53, (90, 170, 220)),
    StoneType("tanzanite", "tanzanite", 3.35, (80, 70, 170)),
    StoneType("garnet", "garnet", 3.90, (120, 20, 30)),
    StoneType("peridot", "peridot", 3.34, (150, 190, 60)),
    StoneType("opal", "opal", 2.15, (225, 232, 236)),
    StoneType("tourmaline", "pink tourmaline", 3.06, (225, 110, 150)),
    StoneType("citrine", "citrine", 2.65, (235, 170, 50)),
    StoneType("pearl", "pearl", 2.70, (240, 234, 222), by_piece=True),
)}

DIAMOND_GRAVITY = 3.52


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    ratio: float            # the usual length / width
    depth: float            # the usual total depth as a share of the width
    # (length/width ratio, factor) points; the factor is interpolated between them.
    factors: tuple[tuple[float, float], ...]
    spread: str = "lw"      # "avg": ((L+W)/2)^2 (round, oval); "lw": L x W


SHAPES: dict[str, Shape] = {s.key: s for s in (
    Shape("round", "round", 1.00, 0.615, ((1.0, 0.0061),), "avg"),
    Shape("oval", "oval", 1.40, 0.62, ((1.0, 0.0062),), "avg"),
    Shape("princess", "princess", 1.00, 0.74, ((1.0, 0.0083), (1.5, 0.0090)), ),
    Shape("cushion", "cushion", 1.05, 0.68, ((1.0, 0.0081), (1.1, 0.0084), (1.2, 0.0087), (1.5, 0.0092))),
    Shape("emerald", "emerald cut", 1.45, 0.67, ((1.0, 0.0080), (1.5, 0.0092), (2.0, 0.0100), (2.5, 0.0106))),
    Shape("asscher", "asscher", 1.00, 0.69, ((1.0, 0.0080), (1.2, 0.0085))),
    Shape("radiant", "radiant", 1.25, 0.65, ((1.0, 0.0081), (1.5, 0.0095), (2.0, 0.0100))),
    Shape("pear", "pear", 1.60, 0.60, ((1.25, 0.00615), (1.5, 0.0062), (1.66, 0.0062), (2.0, 0.0065))),
    Shape("marquise", "marquise", 2.00, 0.60, ((1.5, 0.00565), (2.0, 0.0058), (2.5, 0.00585), (3.0, 0.00595))),
    Shape("heart", "heart", 1.00, 0.60, ((1.0, 0.0059),)),
)}

SETTINGS = {
    "prong": "prong",
    "bezel": "bezel",
    "pave": "pavé",
    "channel": "channel",
    "halo": "halo",
    "bar": "bar",
    "tension": "tension",
}

STONE_ROLES = {"center": "centre stone", "side": "side stones", "accent": "accent stones"}

# Quality grades, best first. Diamonds (natural and lab) by colour and clarity (GIA's
# scales, grouped as retailers sell them); coloured gems by the A-to-AAAA trade grades.
DIAMOND_COLOURS = ("D-F", "G-H", "I-J", "K-M")
DIAMOND_CLARITIES = ("FL-VVS", "VS", "SI", "I")
GEM_GRADES = ("AAAA", "AAA", "AA", "A")
GRADED_DIAMONDS = ("diamond", "lab_diamond")


def quality_family(stone_type: str) -> str | None:
    """Which grade scale a stone is sold by: 'diamond', 'lab_diamond', 'gem', or None
    (moissanite and pearls are sold without one here)."""
    if stone_type in GRADED_DIAMONDS:
        return stone_type
    if stone_type in ("moissanite", "pearl"):
        return None
    return "gem"


def quality_choices(stone_type: str) -> list[str]:
    """The grades a customer can choose for a stone, best first ('G-H/VS', 'AAA')."""
    family = quality_family(stone_type)
    if family is None:
        return []
    if family == "gem":
        return list(GEM_GRADES)
    return [f"{c}/{q}" for c in DIAMOND_COLOURS for q in DIAMOND_CLARITIES]


# Setting fees by the size of one stone: melee (under 0.05 ct), small (under 0.30 ct),
# centre (0.30 ct and up); pearls by diameter (under 6 mm small, else centre).
SIZE_CLASSES = ("melee", "small", "centre")


def size_class(stone_type: str, carat_each: float, diameter_mm: float) -> str:
    """The setter's size class of one stone."""
    if STONE_TYPES[stone_type].by_piece:
        return "small" if diameter_mm < 6 else "centre"
    return "melee" if carat_each < 0.05 else ("small" if carat_each < 0.30 else "centre")


# Labour by metal class: silver is quick and cheap to work, platinum slow and hard.
METAL_CLASSES = {"silver": "sterling silver", "gold": "gold", "palladium": "palladium", "platinum": "platinum"}

PIECE_TYPES = {
    "ring": "ring",
    "pendant": "pendant",
    "earrings": "earrings",
    "bracelet": "bracelet",
    "necklace": "necklace",
}

# The styles a piece type comes in; labour is priced per piece type and style.
STYLES: dict[str, dict[str, str]] = {
    "ring": {"plain": "plain band", "solitaire": "solitaire", "halo": "halo", "three_stone": "three-stone",
             "pave": "pavé band", "eternity": "eternity band"},
    "pendant": {"solitaire": "solitaire pendant", "halo": "halo pendant", "plain": "metal pendant"},
    "earrings": {"stud": "studs", "drop": "drops", "hoop": "hoops"},
    "bracelet": {"chain": "chain bracelet", "tennis": "tennis bracelet", "bangle": "bangle"},
    "necklace": {"chain": "chain", "riviera": "riviera (tennis) necklace", "pendant": "necklace with a drop"},
}

CHAIN_STYLES = {"cable": "cable", "box": "box", "rope": "rope", "curb": "curb", "figaro": "figaro", "snake": "snake"}

FINISHES = {"polished": "high polish", "matte": "matte", "brushed": "brushed", "hammered": "hammered"}

# Share of a flat band's cross-section that each profile keeps.
PROFILES = {"flat": 1.0, "comfort": 0.85, "court": 0.78, "d_shape": 0.80}


def _factor(shape: Shape, ratio: float) -> float:
    points = shape.factors
    if ratio <= points[0][0]:
        return points[0][1]
    for (r0, f0), (r1, f1) in zip(points, points[1:]):
        if ratio <= r1:
            return f0 + (f1 - f0) * (ratio - r0) / (r1 - r0)
    return points[-1][1]


def stone_carat(stone_type: str, shape: str, length_mm: float, width_mm: float) -> float:
    """Estimated carat weight of one stone from its face-up size in millimetres, at the
    shape's usual depth, scaled from diamond by specific gravity."""
    s = SHAPES[shape]
    depth = width_mm * s.depth
    spread = ((length_mm + width_mm) / 2) ** 2 if s.spread == "avg" else length_mm * width_mm
    diamond = spread * depth * _factor(s, length_mm / width_mm)
    return diamond * STONE_TYPES[stone_type].gravity / DIAMOND_GRAVITY


def stone_size_for_carat(stone_type: str, shape: str, carat: float, ratio: float | None = None) -> tuple[float, float]:
    """Face-up (length, width) in mm of a stone of `carat` at `ratio` (the shape's usual
    length-to-width ratio when not given)."""
    ratio = ratio or SHAPES[shape].ratio
    unit = stone_carat(stone_type, shape, ratio, 1.0)   # carat is proportional to width^3
    width = (carat / unit) ** (1 / 3)
    return round(width * ratio, 2), round(width, 2)


def default_style(piece_type: str, roles: list[str], settings: list[str]) -> str:
    """The style a piece's stones imply when the customer named none."""
    if piece_type == "ring":
        if "halo" in settings:
            return "halo"
        if "side" in roles and "center" in roles:
            return "three_stone"
        if "center" in roles:
            return "solitaire"
        return "pave" if roles else "plain"
    if piece_type == "pendant":
        return "halo" if "halo" in settings else ("solitaire" if roles else "plain")
    if piece_type == "earrings":
        return "stud"
    if piece_type == "bracelet":
        return "tennis" if roles else "chain"
    return "pendant" if "center" in roles else ("riviera" if roles else "chain")
