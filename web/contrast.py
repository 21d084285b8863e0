"""WCAG 2 colour contrast: relative luminance, the contrast ratio of two colours, and an
accent colour darkened until text stays readable on it and in it. Pure: colours in,
colours out (hex strings, "#rrggbb"), so the store's branding and the tests share it."""

from __future__ import annotations

import re

# WCAG AA for normal-size text.
AA_TEXT = 4.5

_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def parse_hex(colour: str) -> tuple[int, int, int]:
    """(r, g, b) of "#rrggbb" or "#rgb" (the # optional); ValueError for anything else."""
    match = _HEX.fullmatch(colour.strip())
    if not match:
        raise ValueError(f"{colour!r} is not a hex colour such as #8a6424")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: tuple[int, int, int]) -> str:
    """"#rrggbb" of (r, g, b)."""
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def relative_luminance(colour: str) -> float:
    """WCAG relative luminance, 0 (black) to 1 (white)."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in parse_hex(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two colours, 1 (same) to 21 (black on white); order does not matter."""
    a, b = relative_luminance(first), relative_luminance(second)
    lighter, darker = max(a, b), min(a, b)
    return (lighter + 0.05) / (darker + 0.05)


def darken(colour: str, factor: float) -> str:
    """The colour with each channel scaled by `factor` (0-1): the same hue, darker."""
    return to_hex(tuple(c * factor for c in parse_hex(colour)))


def readable_accent(colour: str, against: tuple[str, ...], minimum: float = AA_TEXT) -> str:
    """`colour` in lowercase "#rrggbb" if it reaches `minimum` contrast with every colour
    in `against` (the text drawn on it, the backgrounds it is drawn on as text), else
    the same hue darkened step by step until it does. Black reaches 4.5:1 against any
    light colour, so a light `against` always ends; a dark one that cannot be met raises
    ValueError rather than answering a colour that fails."""
    current = to_hex(parse_hex(colour))
    while min(contrast_ratio(current, other) for other in against) < minimum:
        if current == "#000000":
            raise ValueError(f"no darker shade of {colour} reaches {minimum}:1 against {', '.join(against)}")
        darker = darken(current, 0.96)
        # Scaling stalls on very dark channels (round(1 * 0.96) == 1): step them down by one.
        current = darker if darker != current else to_hex(tuple(max(0, c - 1) for c in parse_hex(current)))
    return current
