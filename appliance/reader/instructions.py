"""A round's instruction ("thinner band", "make it platinum", "add a halo") applied to the
spec, so the picture, the materials and the price keep agreeing after each round."""

from __future__ import annotations

import re

from appliance.jewelry import catalog
from appliance.jewelry.specs import Spec, StoneGroup, halo_count
from appliance.reader.descriptions import named_finish, named_metal
from appliance.reader.stone_phrases import accent_group, mentions_accents, named_carat, named_shape, named_stone_type

_KARAT = re.compile(r"\b(9|10|14|18|22|24)\s*(k|kt|ct|carat|karat)", re.I)
_COLOUR = re.compile(r"\b(yellow|white|rose|pink|red)\b", re.I)
_THINNER = re.compile(r"\b(thinner|slimmer|narrower|finer|more delicate|daintier)\b", re.I)
_THICKER = re.compile(r"\b(thicker|wider|chunkier|bolder|heavier|broader)\b", re.I)
_BIGGER = re.compile(r"\b(bigger|larger)\b", re.I)
_SMALLER = re.compile(r"\b(smaller|tinier)\b", re.I)
_NO_HALO = re.compile(r"\b(no|without|remove|drop)\s+(the\s+)?halo\b", re.I)
_ADD_HALO = re.compile(r"\badd\s+(a\s+)?halo\b", re.I)
_NO_ACCENTS = re.compile(r"\b(no|without|remove|drop)\s+(the\s+)?(accents?|small\s+diamonds|pav[eé])\b|\bplain\s+band\b", re.I)


def revise_spec(spec: Spec, instruction: str | None) -> tuple[Spec, list[str]]:
    """Apply an instruction to the spec. Returns the new spec and what changed, in words;
    an instruction with nothing to change (only style words) returns the spec as it was."""
    if not instruction:
        return spec, []
    data = spec.model_dump()
    changes: list[str] = []
    center = next((g for g in data["stones"] if g["role"] == "center"), None)

    if _THINNER.search(instruction) or _THICKER.search(instruction):
        factor = (0.75, 0.9) if _THINNER.search(instruction) else (1.3, 1.1)
        data["band_width_mm"] = min(12.0, max(1.2, round(spec.band_width_mm * factor[0], 1)))
        data["band_thickness_mm"] = min(4.0, max(1.0, round(spec.band_thickness_mm * factor[1], 1)))
        changes.append(f"band width {spec.band_width_mm:g} → {data['band_width_mm']:g} mm")
    if center and (_BIGGER.search(instruction) or _SMALLER.search(instruction)):
        factor = 1.1 if _BIGGER.search(instruction) else 0.9
        center["length_mm"] = round(min(30, center["length_mm"] * factor), 2)
        center["width_mm"] = round(min(30, center["width_mm"] * factor), 2)
        changes.append(f"centre stone {'larger' if factor > 1 else 'smaller'} ({center['length_mm']:g} mm)")
    metal = named_metal(instruction)
    if metal and metal[0].isdigit() and spec.metal[0].isdigit() and not _COLOUR.search(instruction):
        # 'make it 14k': the karat changes, the colour the customer chose stays (22k is yellow).
        karat = metal.split("_")[0]
        metal = f"{karat}_{spec.metal.split('_')[1]}" if f"{karat}_{spec.metal.split('_')[1]}" in catalog.METALS \
            else metal
    elif metal and metal[0].isdigit() and spec.metal[0].isdigit() and not _KARAT.search(instruction):
        # 'rose gold instead': the colour changes, the karat the customer chose stays.
        kept = f"{spec.metal.split('_')[0]}_{metal.split('_')[1]}"
        metal = kept if kept in catalog.METALS else metal
    if metal and metal != spec.metal:
        data["metal"] = metal
        changes.append(f"metal → {catalog.METALS[metal].label}")
    stone_type = named_stone_type(instruction)
    if center and stone_type and stone_type != center["type"] and not mentions_accents(instruction):
        center["type"] = stone_type
        changes.append(f"centre stone → {catalog.STONE_TYPES[stone_type].label}")
    if center and (shape := named_shape(instruction)) and shape != center["shape"]:
        center["shape"] = shape
        center["length_mm"] = round(max(center["width_mm"] * catalog.SHAPES[shape].ratio, center["width_mm"]), 2)
        changes.append(f"centre stone shape → {catalog.SHAPES[shape].label}")
    if center and (carat := named_carat(instruction)) and not mentions_accents(instruction) \
            and not catalog.STONE_TYPES[center["type"]].by_piece and 0.005 <= carat <= 12:
        # 'a 2 carat emerald cut stone': the centre at that weight, in its (new) shape.
        length, width = catalog.stone_size_for_carat(center["type"], center["shape"], carat)
        if (length, width) != (center["length_mm"], center["width_mm"]) and length <= 30:
            center["length_mm"], center["width_mm"] = length, width
            changes.append(f"centre stone {carat:g} ct")
    if _NO_HALO.search(instruction):
        kept = [g for g in data["stones"] if g["setting"] != "halo"]
        if len(kept) != len(data["stones"]):
            data["stones"] = kept
            changes.append("halo removed")
    elif _ADD_HALO.search(instruction) and center and not any(g["setting"] == "halo" for g in data["stones"]):
        halo = accent_group("halo")
        data["stones"].append(halo.model_copy(update={"count": halo_count(StoneGroup(**center), 1.3)}).model_dump())
        changes.append("halo of small diamonds added")
    if _NO_ACCENTS.search(instruction):
        kept = [g for g in data["stones"] if not (g["role"] == "accent" and g["setting"] != "halo")]
        if len(kept) != len(data["stones"]):
            data["stones"] = kept
            changes.append("accent stones removed")
    if (finish := named_finish(instruction)) and finish != spec.finish:
        data["finish"] = finish
        changes.append(f"finish → {catalog.FINISHES[finish]}")
    if not changes:
        return spec, []
    try:
        return Spec(**data), changes
    except ValueError:
        # A change the spec cannot hold (a stone too small to set): the piece stays as it is.
        return spec, []
