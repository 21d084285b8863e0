"""The jeweler's facts: metals and their densities, stones and their gravities, shapes,
settings, piece types and ring sizes. Plain data plus the geometry that follows from it.

Densities are g/cm3 for common casting alloys (real alloys vary; the price book can
override them). Carat factors follow the trade's weight-estimation formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metal:
    key: str
    label: str
    density: float          # g/cm3
    fineness: float         # share of precious metal by weight
    colour: str             # yellow | white | rose | platinum | silver | palladium
    rgb: tuple[int, int, int]


METALS: dict[str, Metal] = {m.key: m for m in (
    Metal("10k_yellow", "10k yellow gold", 11.57, 0.417, "yellow", (222, 184, 96)),
    Metal("10k_white", "10k white gold", 11.07, 0.417, "white", (214, 214, 210)),
    Metal("10k_rose", "10k rose gold", 11.59, 0.417, "rose", (226, 160, 130)),
    Metal("14k_yellow", "14k yellow gold", 13.07, 0.585, "yellow", (226, 184, 88)),
    Metal("14k_white", "14k white gold", 12.61, 0.585, "white", (218, 218, 214)),
    Metal("14k_rose", "14k rose gold", 13.26, 0.585, "rose", (228, 156, 122)),
    Metal("18k_yellow", "18k yellow gold", 15.58, 0.750, "yellow", (232, 186, 76)),
    Metal("18k_white", "18k white gold", 14.64, 0.750, "white", (222, 222, 218)),
    Metal("18k_rose", "18k rose gold", 15.18, 0.750, "rose", (230, 150, 116)),
    Metal("platinum", "platinum 950", 20.7, 0.950, "platinum", (205, 208, 212)),
    Metal("palladium", "palladium 950", 12.0, 0.950, "palladium", (196, 196, 192)),
    Metal("sterling", "sterling silver", 10.40, 0.925, "silver", (200, 202, 206)),
)}


@dataclass(frozen=True)
class StoneType:
    key: str
    label: str
    gravity: float          # specific gravity; carat formulas are written for diamond (3.52)
    rgb: tuple[int, int, int]


STONE_TYPES: dict[str, StoneType] = {s.key: s for s in (
    StoneType("diamond", "natural diamond", 3.52, (236, 244, 250)),
    StoneType("lab_diamond", "lab-grown diamond", 3.52, (236, 244, 250)),
    StoneType("moissanite", "moissanite", 3.21, (238, 246, 244)),
    StoneType("sapphire", "blue sapphire", 4.00, (40, 70, 170)),
    StoneType("ruby", "ruby", 4.00, (170, 20, 50)),
    StoneType("emerald", "emerald", 2.72, (20, 140, 80)),
)}

DIAMOND_GRAVITY = 3.52


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    factor: float           # carat = length-ish term x depth x factor (diamond)
    ratio: float            # usual length / width
    depth: float            # usual depth as a share of width


SHAPES: dict[str, Shape] = {s.key: s for s in (
    Shape("round", "round", 0.0061, 1.00, 0.61),
    Shape("oval", "oval", 0.0062, 1.40, 0.60),
    Shape("princess", "princess", 0.0083, 1.00, 0.70),
    Shape("cushion", "cushion", 0.0081, 1.05, 0.65),
    Shape("emerald", "emerald cut", 0.0080, 1.45, 0.64),
    Shape("pear", "pear", 0.0060, 1.55, 0.60),
    Shape("marquise", "marquise", 0.0058, 2.00, 0.60),
    Shape("heart", "heart", 0.0059, 1.00, 0.60),
)}

SETTINGS = {
    "prong": "prong",
    "bezel": "bezel",
    "pave": "pavé",
    "channel": "channel",
    "halo": "halo",
}

STONE_ROLES = {"center": "centre stone", "side": "side stones", "accent": "accent stones"}

PIECE_TYPES = {
    "ring": "ring",
    "pendant": "pendant",
    "earrings": "earrings",
    "bracelet": "bracelet",
    "necklace": "necklace",
}

FINISHES = {"polished": "high polish", "matte": "matte", "brushed": "brushed", "hammered": "hammered"}

PROFILES = {"flat": 1.0, "comfort": 0.85, "court": 0.80}

US_RING_SIZES = (3.0, 16.0)


def ring_inner_diameter_mm(us_size: float) -> float:
    """Inner diameter of a ring of the given US size (11.63 + 0.8128 x size)."""
    return 11.63 + 0.8128 * us_size


def us_size_from_eu(eu_size: float) -> float:
    """US size from an EU/ISO 8653 size (the inner circumference in mm)."""
    return (eu_size / math.pi - 11.63) / 0.8128


def stone_carat(stone_type: str, shape: str, length_mm: float, width_mm: float) -> float:
    """Estimated carat weight of one stone from its face-up size in millimetres."""
    s = SHAPES[shape]
    depth = width_mm * s.depth
    if shape in ("round", "oval", "heart"):
        spread = ((length_mm + width_mm) / 2) ** 2
    else:
        spread = length_mm * width_mm
    diamond_carat = spread * depth * s.factor
    return diamond_carat * STONE_TYPES[stone_type].gravity / DIAMOND_GRAVITY


def stone_size_for_carat(stone_type: str, shape: str, carat: float) -> tuple[float, float]:
    """Face-up (length, width) in mm of a stone of the given carat in the shape's usual ratio."""
    s = SHAPES[shape]
    # Carat is proportional to width^3 at a fixed ratio; solve with the unit-width weight.
    unit = stone_carat(stone_type, shape, s.ratio, 1.0)
    width = (carat / unit) ** (1 / 3)
    return round(width * s.ratio, 2), round(width, 2)
