"""Spec + the customer's words -> the generation prompt and negative prompt.

The prompt is built from parts in the order a reader expects (style triggers, the piece,
its stones, the customer's words, the photography framing). CLIP reads at most 77 tokens
per encoder, so when the parts do not fit, whole parts are left out in order of least
importance (the customer's free words first, since the spec already carries them) and
the caller is told which: never a silent cut mid-word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from appliance.jewelry import catalog
from appliance.jewelry.specs import Spec, StoneGroup

MAX_TOKENS = 77
FRAMING = "jewelry product photography, studio lighting, clean light background, sharp focus, macro detail"
NEGATIVE = ("blurry, lowres, deformed, distorted band, extra stones, missing prongs, text, watermark, logo, "
            "hands, fingers, person, cartoon, illustration, oversaturated")


@dataclass(frozen=True)
class Part:
    text: str
    priority: int      # 0 = never dropped; higher numbers are dropped first


def _stone_words(group: StoneGroup) -> str:
    stone = catalog.STONE_TYPES[group.type].label
    if group.by_piece:
        return f"{group.length_mm:g} mm {stone}" + ("s" if group.count > 1 else "")
    shape = catalog.SHAPES[group.shape].label
    if group.role == "center":
        return f"a {group.carat_each:.1f} carat {shape} {stone} centre stone in a {catalog.SETTINGS[group.setting]} setting"
    if group.role == "side":
        return f"{group.count} {shape} {stone} side stones"
    where = "halo" if group.setting == "halo" else "band"
    return f"tiny {catalog.SETTINGS[group.setting]} {stone}s around the {where}"


def prompt_parts(spec: Spec, description: str = "", instruction: str | None = None,
                 triggers: list[str] = ()) -> list[Part]:
    """The prompt's parts in reading order, each with how important it is to keep."""
    metal = catalog.METALS[spec.metal].label
    style = catalog.STYLES[spec.piece_type][spec.effective_style]
    parts = [Part(", ".join(t for t in triggers if t), 0)] if any(triggers) else []
    parts.append(Part(f"a {metal} {style}", 0))
    if spec.piece_type == "ring":
        parts.append(Part(f"{spec.band_width_mm:g} mm {spec.profile.replace('_', '-')} band, {catalog.FINISHES[spec.finish]} finish", 3))
    elif spec.chain_length_mm:
        parts.append(Part(f"on a {spec.chain_style} chain", 4))
    for group in spec.stones:
        parts.append(Part(_stone_words(group), 1 if group.role == "center" else 2))
    if instruction:
        parts.append(Part(instruction.strip(), 2))
    if description:
        parts.append(Part(description.strip(), 6))
    parts.append(Part(FRAMING, 5))
    return parts


def fit(parts: list[Part], count_tokens: Callable[[str], int], limit: int = MAX_TOKENS) -> tuple[str, list[str]]:
    """Join the parts into a prompt within `limit` tokens, leaving out whole parts (least
    important first, later ones before earlier ones at the same importance); returns the
    prompt and the texts that were left out."""
    kept = list(parts)
    dropped: list[str] = []
    while True:
        prompt = ", ".join(p.text for p in kept if p.text)
        if count_tokens(prompt) <= limit:
            return prompt, dropped
        droppable = [p for p in kept if p.priority > 0]
        if not droppable:
            return prompt, dropped   # the essentials alone are long; the encoder truncates them
        worst = max(droppable, key=lambda p: (p.priority, kept.index(p)))
        kept.remove(worst)
        dropped.append(worst.text)


def rough_tokens(text: str) -> int:
    """CLIP's token count without its tokenizer: a word or a mark is a token (common words
    are), plus the start and end tokens. Rare words take more, so callers leave room."""
    return len(re.findall(r"\w+|[^\w\s]", text)) + 2


def caption(spec: Spec, trigger: str) -> str:
    """The caption a store's photo of this piece is trained with: the prompt the studio would
    build for the same spec (trigger words, piece, band, stones, framing), without a
    customer's words, within the text encoders' length."""
    text, _ = fit(prompt_parts(spec, triggers=[trigger]), rough_tokens, limit=MAX_TOKENS - 7)
    return text
