"""The spec: the one structured description of a piece that the prompt, the sketch, the
materials panel and the quote all read, with its validation.

The free-text parser that fills a spec from the customer's words lives in
`appliance.descriptions`.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance import catalog


# Which catalog vocabulary each word-valued field must come from: (words, choices).
_VOCABULARY = {
    "role": ("stone role", catalog.STONE_ROLES),
    "type": ("stone type", catalog.STONE_TYPES),
    "shape": ("stone shape", catalog.SHAPES),
    "setting": ("setting", catalog.SETTINGS),
    "piece_type": ("piece type", catalog.PIECE_TYPES),
    "metal": ("metal", catalog.METALS),
    "profile": ("band profile", catalog.PROFILES),
    "finish": ("finish", catalog.FINISHES),
}


def _in_catalog(value: str, info) -> str:
    kind, choices = _VOCABULARY[info.field_name]
    value = value.strip().lower()
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(choices)}")
    return value


class StoneGroup(BaseModel):
    """A group of identical stones: the centre stone, side stones or accents."""

    model_config = ConfigDict(extra="forbid")

    role: str = "center"
    type: str = "diamond"
    shape: str = "round"
    length_mm: float = Field(6.5, gt=0, le=30)
    width_mm: float = Field(6.5, gt=0, le=30)
    count: int = Field(1, ge=1, le=400)
    setting: str = "prong"

    _vocabulary = field_validator("role", "type", "shape", "setting")(_in_catalog)

    @field_validator("length_mm", "width_mm")
    @classmethod
    def _at_least_a_melee(cls, v: float) -> float:
        if v < 0.8:
            raise ValueError("stones smaller than 0.8 mm cannot be set")
        return round(v, 2)

    @model_validator(mode="after")
    def _round_is_round(self) -> "StoneGroup":
        if self.shape == "round" and self.width_mm != self.length_mm:
            self.width_mm = self.length_mm
        if self.width_mm > self.length_mm and self.shape not in ("round", "heart", "princess", "cushion"):
            raise ValueError("width_mm cannot exceed length_mm; length is the longer side")
        return self

    @property
    def carat_each(self) -> float:
        return catalog.stone_carat(self.type, self.shape, self.length_mm, self.width_mm)

    @property
    def carat_total(self) -> float:
        return self.carat_each * self.count

    def describe(self) -> str:
        """Words a person uses for this group: '1 x 1.50 ct oval lab-grown diamond'."""
        stone = catalog.STONE_TYPES[self.type].label
        shape = catalog.SHAPES[self.shape].label
        if self.count == 1:
            return f"{self.carat_each:.2f} ct {shape} {stone}"
        return f"{self.count} x {self.carat_each:.3f} ct {shape} {stone}"


class Spec(BaseModel):
    """The whole piece. Ring sizes are US sizes; lengths are millimetres."""

    model_config = ConfigDict(extra="forbid")

    piece_type: str = "ring"
    metal: str = "14k_yellow"
    ring_size: float | None = Field(7.0, ge=catalog.US_RING_SIZES[0], le=catalog.US_RING_SIZES[1])
    band_width_mm: float = Field(2.0, ge=1.0, le=12.0)
    band_thickness_mm: float = Field(1.6, ge=0.8, le=4.0)
    profile: str = "comfort"
    stones: list[StoneGroup] = Field(default_factory=list, max_length=6)
    chain_length_mm: int | None = Field(None, ge=300, le=1000)
    finish: str = "polished"

    _vocabulary = field_validator("piece_type", "metal", "profile", "finish")(_in_catalog)

    @field_validator("ring_size")
    @classmethod
    def _quarter_sizes(cls, v: float | None) -> float | None:
        return None if v is None else round(v * 4) / 4

    @model_validator(mode="after")
    def _fits_the_piece(self) -> "Spec":
        if self.piece_type == "ring" and self.ring_size is None:
            self.ring_size = 7.0
        if self.piece_type != "ring":
            self.ring_size = None
        if self.piece_type in ("pendant", "necklace") and self.chain_length_mm is None:
            self.chain_length_mm = 450
        if self.piece_type not in ("pendant", "necklace"):
            self.chain_length_mm = None
        if sum(1 for g in self.stones if g.role == "center") > 1:
            raise ValueError("a piece has at most one centre stone group")
        return self

    @property
    def center(self) -> StoneGroup | None:
        return next((g for g in self.stones if g.role == "center"), None)

    def summary(self) -> str:
        """One line a jeweler reads at a glance."""
        parts = [catalog.METALS[self.metal].label, catalog.PIECE_TYPES[self.piece_type]]
        if self.ring_size is not None:
            parts.append(f"size {self.ring_size:g}")
        parts.extend(g.describe() for g in self.stones)
        return ", ".join(parts)


def band_accent_count(ring_size: float, stone_mm: float, eternity: bool = False) -> int:
    """How many accent stones of `stone_mm` fit along the top half (or all) of a band."""
    circumference = math.pi * catalog.ring_inner_diameter_mm(ring_size)
    covered = circumference if eternity else circumference / 2
    return max(1, int(covered // (stone_mm + 0.2)))


def halo_count(center: StoneGroup, stone_mm: float) -> int:
    """How many accent stones of `stone_mm` ring a centre stone as a halo."""
    around = math.pi * ((center.length_mm + center.width_mm) / 2 + stone_mm)
    return max(6, int(around // (stone_mm + 0.15)))


def field_errors(exc) -> list[dict]:
    """pydantic's ValidationError as [{field, message}] with dotted field names."""
    errors = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "spec"
        message = err.get("msg", "invalid value").removeprefix("Value error, ")
        errors.append({"field": field, "message": message})
    return errors
