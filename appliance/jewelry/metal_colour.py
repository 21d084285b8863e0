"""The metal colour check: does the drawn piece's metal look like the spec's metal?

No model: the piece is told apart from its backdrop (smooth, and it fills the borders),
its pixels are sorted by hue and saturation into yellow-gold, rose-gold and white-metal
tones, and the share of each decides the colour family seen. Warm tones are strong
evidence (only warm metal or a warm stone makes them, and the spec's own stones are set
aside); neutral tones are weak evidence (diamonds, highlights and soft shadows make them
too). Whenever the picture leaves room for doubt the answer is `unsure`, never a false
alarm: a flagged concept is one the customer and the jeweler should look at twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from appliance.jewelry import catalog
from appliance.jewelry.specs import Spec

AGREES, DISAGREES, UNSURE = "agrees", "disagrees", "unsure"
VERDICTS = (AGREES, DISAGREES, UNSURE)

FAMILY_WORDS = {"yellow": "yellow gold", "white": "white metal", "rose": "rose gold"}

# The longest side the check looks at: thin chains still show, and it stays cheap.
_WORKING_SIZE = 512
_BORDER = 0.06                  # the share of each side read as backdrop
_APART = 14                     # how far (0-255, any channel) a pixel must be from the backdrop
# Hue (degrees) and saturation windows of the tones; shading keeps a metal's hue.
_ROSE_HUE, _YELLOW_HUE = (6.0, 30.0), (30.0, 64.0)
_WARM_SATURATION = 0.20
_STRONG_SATURATION = 0.30
_STRONG_SHARE = 0.05
_NEUTRAL_SATURATION = 0.09
_DARKEST, _BRIGHTEST = 0.25, 0.95
_STONE_HUE_MARGIN = 9.0
_FEWEST_METAL = 0.0015          # of the image's pixels, below which nothing is decided


@dataclass(frozen=True)
class MetalCheck:
    """What the check found: the family seen (None when it cannot tell), the family the
    spec asks for, the verdict ('agrees' | 'disagrees' | 'unsure') and why, in words."""
    seen: str | None
    expected: str
    verdict: str
    reason: str
    yellow_share: float = 0.0
    rose_share: float = 0.0
    white_share: float = 0.0


def family_of(metal_key: str) -> str:
    """The colour family of a catalogue metal: 'yellow', 'white' or 'rose'."""
    metal = catalog.METALS[metal_key]
    if metal.base != "gold" or metal_key.endswith("_white"):
        return "white"
    return "rose" if metal_key.endswith("_rose") else "yellow"


def check(image: Image.Image, spec: Spec) -> MetalCheck:
    """Measure the metal colour of the piece drawn in `image` and compare it with the
    family of `spec.metal`."""
    expected = family_of(spec.metal)
    rgb = _working_copy(image)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    br, bg, bb = _backdrop(rgb)
    apart = (np.abs(r - br) > _APART) | (np.abs(g - bg) > _APART) | (np.abs(b - bb) > _APART)
    # From here on only the pixels apart from the backdrop: a few percent of the image.
    r, g, b, br, bg, bb = (plane[apart] for plane in (r, g, b, br, bg, bb))
    hue, saturation, value = _hsv(r, g, b)
    piece = ~_shadow(r, g, b, br, bg, bb)
    piece &= (value >= _DARKEST) & ~((value > _BRIGHTEST) & (saturation < _WARM_SATURATION))
    warm = piece & (saturation >= _WARM_SATURATION) & (saturation <= 0.85)
    is_yellow = warm & (hue >= _YELLOW_HUE[0]) & (hue < _YELLOW_HUE[1])
    is_rose = warm & (hue >= _ROSE_HUE[0]) & (hue < _ROSE_HUE[1])
    stone = _stone_tones(hue, saturation, spec)
    hidden = int(((is_yellow | is_rose) & stone).sum())
    yellow = int((is_yellow & ~stone).sum())
    rose = int((is_rose & ~stone).sum())
    white = int((piece & (saturation < _NEUTRAL_SATURATION)).sum())
    # The body of a gold piece is strongly coloured, more than the backdrop behind it; a
    # white piece's edges blended into a warm backdrop are only as coloured as the backdrop.
    behind_hue, behind, _ = _hsv(br, bg, bb)
    warm_behind = behind_hue < _YELLOW_HUE[1] + 10
    vivid = (saturation >= _STRONG_SATURATION) & ((saturation >= behind + 0.1) | ~warm_behind)
    strong = int(((is_yellow | is_rose) & ~stone & vivid).sum())
    return _verdict(expected, yellow, rose, white, strong, hidden, apart.size)


def _verdict(expected: str, yellow: int, rose: int, white: int, strong: int, hidden: int,
             area: int) -> MetalCheck:
    metal = yellow + rose + white
    if metal < _FEWEST_METAL * area:
        return MetalCheck(None, expected, UNSURE, "Too little metal shows to judge its colour.")
    shares = {"yellow": yellow / metal, "rose": rose / metal, "white": white / metal}
    warm = shares["yellow"] + shares["rose"]
    seen = None
    if warm >= 0.08 and shares["yellow"] >= 2.5 * shares["rose"]:
        seen = "yellow"
    elif warm >= 0.08 and shares["rose"] >= 2.5 * shares["yellow"]:
        seen = "rose"
    elif warm <= 0.03 or (warm < 0.15 and strong < 0.01 * metal):
        # Faint warm tones with no vivid body among them are grain or a warm backdrop's
        # edge, not gold.
        seen = "white"
    measured = {"yellow_share": round(shares["yellow"], 3), "rose_share": round(shares["rose"], 3),
                "white_share": round(shares["white"], 3)}
    tones = (f"{shares['yellow']:.0%} yellow-gold, {shares['rose']:.0%} rose-gold and "
             f"{shares['white']:.0%} white-metal tones")
    if seen is None:
        return MetalCheck(None, expected, UNSURE, f"The metal shows mixed tones ({tones}).", **measured)
    if seen == expected:
        return MetalCheck(seen, expected, AGREES, f"The metal looks like {FAMILY_WORDS[seen]} ({tones}).",
                          **measured)
    if hidden > 0.1 * metal:
        return MetalCheck(None, expected, UNSURE, "A stone shares the gold's colour, so the metal cannot be told "
                          f"apart from it ({tones}).", **measured)
    # A white piece is only called warm when warm tones outweigh the neutral ones or a
    # strongly coloured body shows: the edges of white metal on a warm backdrop blend into
    # faintly warm tones, and soft shadows on a grey one are neutral whatever the metal.
    if expected == "white" and warm < 0.5 and strong < _STRONG_SHARE * metal:
        return MetalCheck(None, expected, UNSURE, f"The metal shows mixed tones ({tones}).", **measured)
    return MetalCheck(seen, expected, DISAGREES,
                      f"The metal looks like {FAMILY_WORDS[seen]}, not {FAMILY_WORDS[expected]} ({tones}).",
                      **measured)


def _working_copy(image: Image.Image) -> np.ndarray:
    """The image as float RGB, its longest side at most `_WORKING_SIZE`."""
    picture = image.convert("RGB")
    longest = max(picture.size)
    if longest > _WORKING_SIZE:
        factor = _WORKING_SIZE / longest
        picture = picture.resize((max(1, round(picture.width * factor)), max(1, round(picture.height * factor))),
                                 Image.BILINEAR)
    return np.asarray(picture, dtype=np.float32)


# The cubic terms x**i * y**j (i + j <= 3): a vertical gradient times a vignette fits.
_POWERS = [(i, j) for i in range(4) for j in range(4) if i + j <= 3]


def _backdrop(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The backdrop behind the piece, per channel: a smooth surface fitted to the border
    pixels, setting aside the border pixels the piece covers as the fit improves."""
    height, width, _ = rgb.shape
    band = max(2, round(min(height, width) * _BORDER))
    border = np.zeros((height, width), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    rows, cols = np.nonzero(border)
    step = max(1, len(rows) // 4000)             # a few thousand samples are plenty
    rows, cols = rows[::step], cols[::step]
    ys, xs = rows / max(1, height - 1) * 2 - 1, cols / max(1, width - 1) * 2 - 1
    terms = np.stack([xs ** i * ys ** j for i, j in _POWERS], axis=-1)
    values = rgb[rows, cols].astype(np.float64)
    keep = np.ones(len(rows), bool)
    coefficients = _least_squares(terms, values)
    for limit in (40.0, 16.0):
        residual = np.abs(terms @ coefficients - values).max(axis=-1)
        keep = residual < max(limit, float(np.median(residual)) * 3)
        if keep.sum() < len(_POWERS) * 4:
            break
        coefficients = _least_squares(terms[keep], values[keep])
    # Evaluated as (rows x powers of y) @ (powers of y x powers of x) @ (powers of x x columns).
    y_powers = np.stack([np.linspace(-1, 1, height) ** j for j in range(4)], axis=-1)
    x_powers = np.stack([np.linspace(-1, 1, width) ** i for i in range(4)], axis=0)
    planes = []
    for channel in range(3):
        grid = np.zeros((4, 4))
        for (i, j), c in zip(_POWERS, coefficients[:, channel]):
            grid[j, i] = c
        planes.append((y_powers @ grid @ x_powers).astype(np.float32))
    return planes[0], planes[1], planes[2]


def _least_squares(terms: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The coefficients that fit `values` best, by the normal equations: ten terms on
    [-1, 1] are well conditioned, and a 10 x 10 solve costs nothing, where LAPACK's lstsq
    costs tens of milliseconds on a busy machine."""
    return np.linalg.solve(terms.T @ terms + np.eye(terms.shape[1]) * 1e-6, terms.T @ values)


def _hsv(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees, saturation and value (0-1) of each pixel."""
    top = np.maximum(np.maximum(r, g), b)
    spread = top - np.minimum(np.minimum(r, g), b)
    safe = np.maximum(spread, 1e-6)
    hue = np.where(top == r, ((g - b) / safe) % 6, np.where(top == g, (b - r) / safe + 2, (r - g) / safe + 4))
    return hue * 60.0, spread / np.maximum(top, 1e-6), top / 255.0


def _shadow(r, g, b, br, bg, bb) -> np.ndarray:
    """Pixels that are a coloured backdrop darkened (a cast shadow, a vignette the fit
    missed): the same proportions of red, green and blue as the backdrop behind them.
    On a grey backdrop a shadow is grey, and grey is weak evidence anyway."""
    total = r + g + b + 1e-6
    behind = np.maximum(br + bg + bb, 3.0)
    top = np.maximum(np.maximum(br, bg), bb)
    coloured = (top - np.minimum(np.minimum(br, bg), bb)) > 0.06 * top
    same = ((np.abs(r / total - br / behind) < 0.012) & (np.abs(g / total - bg / behind) < 0.012)
            & (np.abs(b / total - bb / behind) < 0.012))
    return coloured & same


def _stone_tones(hue: np.ndarray, saturation: np.ndarray, spec: Spec) -> np.ndarray:
    """Pixels in the hue of one of the spec's coloured stones (a citrine is as yellow as
    gold): set aside, so a stone never passes for metal."""
    aside = np.zeros(hue.shape, bool)
    for group in spec.stones:
        r, g, b = catalog.STONE_TYPES[group.type].rgb
        stone_hue, stone_saturation, _ = _hsv(*(np.array([c], dtype=np.float32) for c in (r, g, b)))
        if stone_saturation[0] < _WARM_SATURATION:
            continue                                 # clear and pale stones look like no gold
        distance = np.abs((hue - stone_hue[0] + 180) % 360 - 180)
        aside |= (distance < _STONE_HUE_MARGIN) & (saturation >= _WARM_SATURATION)
    return aside
