"""The spec: the one structured description of a piece that the prompt, the sketch, the
materials panel and the quote all read, with its validation.

The free-text parser that fills a spec from the customer's words lives in
`appliance.reader.descriptions`.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.jewelry import catalog, ring_sizes

# The most stone groups one piece carries (a mother's ring of ten birthstones, say).
MAX_STONE_GROUPS = 12

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
    "size_system": ("ring size system", ring_sizes.SYSTEMS),
    "chain_style": ("chain style", catalog.CHAIN_STYLES),
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
    # The grade ('G-H/VS' for diamonds, 'AAA' for gems); None means the store's standard.
    quality: str | None = Field(None, max_length=12)

    _vocabulary = field_validator("role", "type", "shape", "setting")(_in_catalog)

    @field_validator("length_mm", "width_mm")
    @classmethod
    def _at_least_a_melee(cls, v: float) -> float:
        if v < 0.8:
            raise ValueError("stones smaller than 0.8 mm cannot be set")
        return round(v, 2)

    @model_validator(mode="after")
    def _a_grade_the_stone_is_sold_by(self) -> "StoneGroup":
        if self.quality is not None and self.quality not in catalog.quality_choices(self.type):
            choices = catalog.quality_choices(self.type)
            raise ValueError(f"unknown grade {self.quality!r} for {catalog.STONE_TYPES[self.type].label}; "
                             + (f"choose one of: {', '.join(choices)}" if choices else "it is sold without a grade"))
        return self

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

    @property
    def by_piece(self) -> bool:
        """Priced and described by size, not carat (pearls)."""
        return catalog.STONE_TYPES[self.type].by_piece

    def describe(self) -> str:
        """Words a person uses for this group: '1.50 ct oval lab-grown diamond',
        '18 x 0.010 ct round natural diamond', '2 x 8 mm pearl' (with the grade when chosen)."""
        stone = catalog.STONE_TYPES[self.type].label + (f", {self.quality}" if self.quality else "")
        if self.by_piece:
            return f"{self.count} x {self.length_mm:g} mm {stone}" if self.count > 1 else f"{self.length_mm:g} mm {stone}"
        shape = catalog.SHAPES[self.shape].label
        if self.count == 1:
            return f"{self.carat_each:.2f} ct {shape} {stone}"
        return f"{self.count} x {self.carat_each:.3f} ct {shape} {stone}"


class Spec(BaseModel):
    """The whole piece. Ring sizes are US sizes; lengths are millimetres."""

    model_config = ConfigDict(extra="forbid")

    piece_type: str = "ring"
    style: str | None = None
    metal: str = "14k_yellow"
    ring_size: float | None = Field(7.0, ge=ring_sizes.ALLOWED_US[0], le=ring_sizes.ALLOWED_US[1])
    size_system: str = "us"
    band_width_mm: float = Field(2.0, ge=1.0, le=12.0)
    band_thickness_mm: float = Field(1.6, ge=0.8, le=4.0)
    profile: str = "comfort"
    stones: list[StoneGroup] = Field(default_factory=list)
    chain_length_mm: int | None = Field(None, ge=300, le=1000)
    chain_style: str = "cable"
    bracelet_length_mm: int | None = Field(None, ge=140, le=240)
    finish: str = "polished"
    hoop_diameter_mm: float | None = Field(None, ge=8, le=80)
    # What the customer said they want to spend, in the store's currency (whole units).
    budget: int | None = Field(None, ge=1, le=10_000_000)

    _vocabulary = field_validator("piece_type", "metal", "profile", "finish", "size_system",
                                  "chain_style")(_in_catalog)

    @field_validator("stones")
    @classmethod
    def _a_piece_holds_so_many_kinds(cls, stones: list) -> list:
        if len(stones) > MAX_STONE_GROUPS:
            raise ValueError(f"a piece can hold up to {MAX_STONE_GROUPS} kinds of stone; "
                             f"please combine some or tell the jeweler in your notes")
        return stones

    @model_validator(mode="after")
    def _fits_the_piece(self) -> "Spec":
        is_ring = self.piece_type == "ring"
        if is_ring and self.ring_size is None:
            self.ring_size = 7.0
        if is_ring:
            # US sizes come in quarters; a size given in another system keeps its exact value.
            step = 4 if self.size_system == "us" else 100
            self.ring_size = round(self.ring_size * step) / step
        else:
            self.ring_size = None
        if self.piece_type in ("ring", "bracelet") and "band_thickness_mm" not in self.model_fields_set:
            self.band_thickness_mm = default_thickness(self.band_width_mm)
        has_chain = self.piece_type in ("pendant", "necklace")
        if has_chain and self.chain_length_mm is None:
            self.chain_length_mm = 450
        if has_chain and "band_width_mm" not in self.model_fields_set:
            self.band_width_mm = 1.2          # a chain, not a ring band
        if not has_chain:
            self.chain_length_mm = None
        if self.piece_type == "bracelet" and self.bracelet_length_mm is None:
            self.bracelet_length_mm = 180
        if self.piece_type != "bracelet":
            self.bracelet_length_mm = None
        if self.piece_type != "earrings":
            self.hoop_diameter_mm = None
        if self.style is not None and self.style not in catalog.STYLES[self.piece_type]:
            raise ValueError(f"unknown {self.piece_type} style {self.style!r}; choose one of: "
                             f"{', '.join(catalog.STYLES[self.piece_type])}")
        if sum(1 for g in self.stones if g.role == "center") > 1:
            raise ValueError("a piece has at most one centre stone group")
        for g in self.stones:
            if g.by_piece and g.shape != "round":
                raise ValueError("pearls are measured round, by diameter")
        return self

    @property
    def effective_style(self) -> str:
        """The style the customer chose, or the one the stones imply."""
        return self.style or catalog.default_style(
            self.piece_type, [g.role for g in self.stones], [g.setting for g in self.stones])

    @property
    def size_label(self) -> str | None:
        """The ring size in the customer's own system ('M½', '52', '6.5', '13')."""
        if self.ring_size is None:
            return None
        return ring_sizes.from_us(self.size_system, self.ring_size)

    @property
    def center(self) -> StoneGroup | None:
        return next((g for g in self.stones if g.role == "center"), None)

    def materials(self) -> list[str]:
        """The materials list a jeweler works from, one line per part."""
        lines = [f"{catalog.PIECE_TYPES[self.piece_type].capitalize()}, "
                 f"{catalog.STYLES[self.piece_type][self.effective_style]}, {catalog.METALS[self.metal].label}"]
        if self.ring_size is not None:
            us = ring_sizes.from_us("us", self.ring_size)
            own = "" if self.size_system == "us" else f"{self.size_system.upper()} {self.size_label} = "
            lines.append(f"Size {own}US {us} (inner diameter {ring_sizes.inner_diameter(self.ring_size):.2f} mm)")
            lines.append(f"Band {self.band_width_mm:g} x {self.band_thickness_mm:g} mm, {self.profile.replace('_', '-')} profile, "
                         f"{catalog.FINISHES[self.finish]} finish")
        elif self.chain_length_mm:
            lines.append(f"Chain {self.chain_style}, {self.chain_length_mm} mm, {self.band_width_mm:g} mm wide, "
                         f"{catalog.FINISHES[self.finish]} finish")
        elif self.bracelet_length_mm:
            lines.append(f"Length {self.bracelet_length_mm} mm, {self.band_width_mm:g} x {self.band_thickness_mm:g} mm, "
                         f"{catalog.FINISHES[self.finish]} finish")
        for g in self.stones:
            lines.append(f"{catalog.STONE_ROLES[g.role].capitalize()}: {g.describe()}, "
                         f"{g.length_mm:g} x {g.width_mm:g} mm, {catalog.SETTINGS[g.setting]} setting")
        return lines

    def summary(self) -> str:
        """One line a jeweler reads at a glance."""
        parts = [catalog.METALS[self.metal].label, catalog.PIECE_TYPES[self.piece_type]]
        if self.ring_size is not None:
            system = "" if self.size_system == "us" else f"{self.size_system.upper()} "
            parts.append(f"size {system}{self.size_label}")
        parts.extend(g.describe() for g in self.stones)
        return ", ".join(parts)


def default_thickness(width_mm: float) -> float:
    """The thickness a jeweler makes a band of this width: wider bands are thicker (a 2 mm
    band about 1.5 mm, a 6 mm men's band about 2 mm)."""
    return round(min(2.6, max(1.2, 1.3 + 0.12 * width_mm)), 1)


def band_accent_count(ring_size: float, stone_mm: float, eternity: bool = False, band_width_mm: float = 2.0) -> int:
    """How many accent stones of `stone_mm` the band holds: along its top half (or all
    around for an eternity band), in as many rows as its width allows with a 0.3 mm wall
    each side."""
    circumference = math.pi * ring_sizes.inner_diameter(ring_size)
    covered = circumference if eternity else circumference / 2
    rows = max(1, int((band_width_mm - 0.6) // (stone_mm + 0.1)))
    return max(1, int(covered // (stone_mm + 0.2)) * rows)


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
