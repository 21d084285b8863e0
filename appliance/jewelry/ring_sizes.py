"""Ring sizes in the four systems customers use, converted through the one thing they all
measure: the inner circumference in millimetres.

- US/Canada: inner diameter = 11.63 + 0.8128 x size mm, in quarter sizes.
- UK/Australia (BS 6820): letters A-Z with halves, A = 37.8 mm around, 1.25 mm a letter.
- EU (ISO 8653): the size is the inner circumference in mm.
- Japan (JIS): size 1 is 13 mm across; each size adds a third of a millimetre.
"""

from __future__ import annotations

import math
import re

SYSTEMS = {"us": "US/Canada", "uk": "UK/Australia", "eu": "EU (ISO)", "jp": "Japan"}

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
UK_A_MM = 37.8
UK_STEP_MM = 1.25

# Sizes a jeweler keeps on the mandrel; outside them the studio asks before it prices.
USUAL_US = (3.0, 13.5)
ALLOWED_US = (1.0, 16.0)


class RingSizeError(ValueError):
    """A size that does not exist in its system; the message says what would."""


def us_to_circumference(us: float) -> float:
    return math.pi * (11.63 + 0.8128 * us)


def circumference_to_us(mm: float) -> float:
    return (mm / math.pi - 11.63) / 0.8128


def inner_diameter(us: float) -> float:
    """Inner diameter in mm of a ring of US size `us`."""
    return 11.63 + 0.8128 * us


def to_circumference(system: str, label: str | float) -> float:
    """Inner circumference in mm of a size written in `system`."""
    text = str(label).strip().upper().replace(" ", "")
    if system == "us":
        return us_to_circumference(_number(text, "US"))
    if system == "eu":
        return _number(text, "EU")
    if system == "jp":
        return math.pi * (13 + (_number(text, "Japanese") - 1) / 3)
    if system == "uk":
        m = re.fullmatch(r"([A-Z])(½|1/2|\.5|HALF)?", text)
        if not m:
            raise RingSizeError(f"UK sizes are letters A to Z, with halves such as M½ (not {label!r})")
        steps = _LETTERS.index(m.group(1)) + (0.5 if m.group(2) else 0)
        return UK_A_MM + UK_STEP_MM * steps
    raise RingSizeError(f"unknown ring size system {system!r}; choose one of: {', '.join(SYSTEMS)}")


def from_circumference(system: str, mm: float) -> str:
    """The nearest size in `system` for an inner circumference (as a label)."""
    if system == "us":
        return _format(round(circumference_to_us(mm) * 4) / 4)
    if system == "eu":
        return _format(round(mm * 2) / 2)
    if system == "jp":
        return str(max(1, round((mm / math.pi - 13) * 3 + 1)))
    if system == "uk":
        steps = max(0.0, min(25.5, round((mm - UK_A_MM) / UK_STEP_MM * 2) / 2))
        return _LETTERS[int(steps)] + ("½" if steps % 1 else "")
    raise RingSizeError(f"unknown ring size system {system!r}")


def to_us(system: str, label: str | float) -> float:
    """The US size (unrounded) of a size written in `system`."""
    return circumference_to_us(to_circumference(system, label))


def from_us(system: str, us: float) -> str:
    """The nearest size in `system` to a US size."""
    return from_circumference(system, us_to_circumference(us))


def labels(system: str) -> list[str]:
    """Every size of a system within the range a ring can be made in, smallest first."""
    low, high = (us_to_circumference(u) for u in ALLOWED_US)
    if system == "uk":
        candidates = [c + h for c in _LETTERS for h in ("", "½")]
    elif system == "us":
        candidates = [_format(q / 4) for q in range(int(ALLOWED_US[0] * 4), int(ALLOWED_US[1] * 4) + 1)]
    elif system == "eu":
        candidates = [_format(x / 2) for x in range(int(low * 2), int(high * 2) + 1)]
    else:
        candidates = [str(n) for n in range(1, 40)]
    return [c for c in candidates if low - 0.01 <= to_circumference(system, c) <= high + 0.01]


def _number(text: str, name: str) -> float:
    text = text.replace("½", ".5").replace("¼", ".25").replace("¾", ".75")
    m = re.fullmatch(r"(\d+)(?:(\.\d+)|-?(\d)/(\d))?", text)
    if not m:
        raise RingSizeError(f"{name} ring sizes are numbers (not {text!r})")
    value = float(m.group(1))
    if m.group(2):
        value += float(m.group(2))
    elif m.group(3):
        value += int(m.group(3)) / int(m.group(4))
    return value


def _format(value: float) -> str:
    return f"{value:g}"
