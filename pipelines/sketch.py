"""The sketch renderer: a parametric drawing of a spec (Pillow + numpy), the embedded
default on machines without a GPU or an installed model.

Every image shows the spec's metal colour, stone shapes, colours and counts; the four
images of a round differ in view and backdrop, and the seed varies lighting and sparkle.
Each is labelled as a sketch preview so no one mistakes it for a photograph.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from appliance.jewelry import catalog
from appliance.jewelry.specs import Spec, StoneGroup
from pipelines.base import (
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    Generator,
)

SCALE = 2  # drawn at twice the size, then downsampled: smooth edges without a GPU

VIEWS = [
    ("Three-quarter view", (250, 248, 244), (226, 222, 216), 0.40),
    ("Top view", (248, 242, 232), (230, 218, 200), None),
    ("Low angle view", (240, 242, 246), (208, 212, 222), 0.24),
    ("Display view", (52, 56, 72), (22, 24, 34), 0.46),
]


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _backdrop(size: int, top, bottom, rng: random.Random) -> Image.Image:
    y = np.linspace(0, 1, size)[:, None]
    x = np.linspace(-1, 1, size)[None, :]
    vignette = np.clip(1 - 0.25 * (x ** 2 + (y - 0.45) ** 2), 0, 1)
    shift = rng.uniform(-0.08, 0.08)
    t = np.clip(y + shift, 0, 1)
    rgb = np.stack([(np.array(top)[c] * (1 - t) + np.array(bottom)[c] * t) * vignette for c in range(3)], -1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def _outline(shape: str, cx: float, cy: float, length: float, width: float, squash: float = 1.0, n: int = 64):
    """Face-up outline of a stone shape fitted to length (vertical) x width, squashed in y."""
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        s, c = math.sin(t), math.cos(t)
        if shape in ("round", "oval"):
            x, y = s, -c
        elif shape == "princess":
            x, y = max(-1, min(1, 1.42 * s)), max(-1, min(1, -1.42 * c))
        elif shape == "cushion":
            x, y = np.sign(s) * abs(s) ** 0.5, -np.sign(c) * abs(c) ** 0.5
        elif shape == "emerald":
            x, y = max(-1, min(1, 1.42 * s)), max(-1, min(1, -1.42 * c))
            if abs(x) + abs(y) > 1.7:
                k = 1.7 / (abs(x) + abs(y))
                x, y = x * k, y * k
        elif shape == "pear":
            x, y = s * ((1 - c) / 2) ** 0.55, -c
        elif shape == "marquise":
            x, y = s * abs(s) ** 0.35, -c
        else:  # heart
            x = 16 * s ** 3 / 16
            y = -(13 * c - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)) / 15
        pts.append((x, y))
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    mx, my = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    sx, sy = (max(xs) - min(xs)) / 2 or 1, (max(ys) - min(ys)) / 2 or 1
    return [(cx + (x - mx) / sx * width / 2, cy + (y - my) / sy * length / 2 * squash) for x, y in pts]


def _stone(draw: ImageDraw.ImageDraw, group: StoneGroup, cx, cy, length, width, squash, rng, detail=True):
    colour = catalog.STONE_TYPES[group.type].rgb
    is_clear = group.type in ("diamond", "lab_diamond", "moissanite")
    base = (170, 188, 204) if is_clear else colour
    outline = _outline(group.shape, cx, cy, length, width, squash)
    if detail and squash < 0.9:  # the pavilion below the girdle, seen from the side
        depth = width * 0.55 * (1 - squash)
        left = min(p[0] for p in outline)
        right = max(p[0] for p in outline)
        draw.polygon([(left, cy), (right, cy), (cx, cy + depth + length * squash * 0.5)], fill=_mix(base, (0, 0, 0), 0.35))
    draw.polygon(outline, fill=_mix(base, (255, 255, 255), 0.25), outline=_mix(base, (0, 0, 0), 0.45))
    if detail and len(outline) > 8:
        inner = _outline(group.shape, cx, cy, length * 0.55, width * 0.55, squash)
        step = max(1, len(outline) // 16)
        for i in range(0, len(outline), step):
            j = (i + step) % len(outline)
            shade = 0.55 if (i // step) % 2 else 0.05
            tone = _mix(base, (255, 255, 255), shade) if is_clear else _mix(colour, (255, 255, 255), shade * 0.6)
            draw.polygon([outline[i], outline[j], inner[j], inner[i]], fill=tone)
        draw.polygon(inner, fill=_mix(base, (255, 255, 255), 0.7 if is_clear else 0.35),
                     outline=_mix(base, (0, 0, 0), 0.3))
        for _ in range(2):  # sparkle
            a = rng.uniform(0, 2 * math.pi)
            r = rng.uniform(0.1, 0.3) * width
            sx, sy = cx + r * math.cos(a), cy + r * math.sin(a) * squash
            k = width * 0.09
            draw.line([(sx - k, sy), (sx + k, sy)], fill=(255, 255, 255), width=max(1, int(k / 4)))
            draw.line([(sx, sy - k), (sx, sy + k)], fill=(255, 255, 255), width=max(1, int(k / 4)))


def _prongs(draw, cx, cy, length, width, squash, metal_rgb, count=4):
    for i in range(count):
        a = math.pi / 4 + i * 2 * math.pi / count
        px, py = cx + math.cos(a) * width * 0.5, cy + math.sin(a) * length * 0.5 * squash
        r = max(3, width * 0.07)
        draw.ellipse([px - r, py - r, px + r, py + r], fill=_mix(metal_rgb, (255, 255, 255), 0.35),
                     outline=_mix(metal_rgb, (0, 0, 0), 0.4))


def _band_arc(draw, cx, cy, rx, ry, height, thick, metal_rgb, start, end, light):
    """A band seen at an angle: stacked elliptical arcs, bright at the top edge."""
    for k in range(int(height)):
        t = k / max(1, height - 1)
        shade = 0.55 * math.exp(-((t - light) ** 2) / 0.03) - 0.35 * t
        colour = _mix(metal_rgb, (255, 255, 255), shade) if shade > 0 else _mix(metal_rgb, (0, 0, 0), -shade)
        box = [cx - rx, cy - ry + k, cx + rx, cy + ry + k]
        draw.arc(box, start, end, fill=colour, width=int(thick))


def _ring(img: Image.Image, spec: Spec, tilt: float | None, rng: random.Random) -> None:
    draw = ImageDraw.Draw(img)
    size = img.width
    metal = catalog.METALS[spec.metal].rgb
    center = spec.center
    px_per_mm = size / 40
    band_w = spec.band_width_mm * px_per_mm
    thick = max(4, spec.band_thickness_mm * px_per_mm * 0.9)
    accents = [g for g in spec.stones if g.role == "accent"]
    sides = [g for g in spec.stones if g.role == "side"]
    light = rng.uniform(0.12, 0.3)

    if tilt is None:  # top view: the shank runs across, the head faces the viewer
        cy = size * 0.52
        draw.rectangle([0, cy - band_w / 2 - 6, size, cy + band_w / 2 + 6], fill=_mix(metal, (0, 0, 0), 0.12))
        for k in range(int(band_w + 12)):
            t = k / max(1, band_w + 11)
            shade = 0.5 * math.exp(-((t - 0.35) ** 2) / 0.02) - 0.25 * t
            colour = _mix(metal, (255, 255, 255), shade) if shade > 0 else _mix(metal, (0, 0, 0), -shade)
            draw.line([(0, cy - band_w / 2 - 6 + k), (size, cy - band_w / 2 - 6 + k)], fill=colour)
        if accents:
            g = accents[0]
            d = max(g.length_mm * px_per_mm, 8)
            if g.setting == "halo":
                pass
            else:
                n = min(g.count, int(size / (d * 1.2)))
                for i in range(n):
                    x = size / 2 + (i - (n - 1) / 2) * d * 1.2
                    if center and abs(x - size / 2) < center.width_mm * px_per_mm * 0.75:
                        continue
                    _stone(draw, g, x, cy, d, d, 1.0, rng, detail=False)
        _head(draw, spec, size / 2, cy, px_per_mm * 1.6, 1.0, metal, rng, sides, accents)
        return

    cx, cy = size / 2, size * 0.58
    rx = size * 0.30
    ry = rx * tilt
    height = max(band_w * (1 - tilt) * 1.1, 6)
    _band_arc(draw, cx, cy, rx, ry, height, thick, _mix(metal, (0, 0, 0), 0.18), 180, 360, light)
    head_y = cy - ry - size * 0.05
    if center or sides:
        _head(draw, spec, cx, head_y, px_per_mm * 1.25, 1 - tilt * 0.9, metal, rng, sides, accents)
    _band_arc(draw, cx, cy, rx, ry, height, thick, metal, 0, 180, light)
    for g in accents:
        if g.setting == "halo":
            continue
        d = max(g.length_mm * px_per_mm * 1.1, 7)
        n = min(g.count, 40)
        span = (20, 160) if g.count < 40 else (5, 175)
        for i in range(n):
            a = math.radians(span[0] + (span[1] - span[0]) * (i + 0.5) / n)
            x, y = cx + rx * math.cos(a), cy + ry * math.sin(a) + height * 0.25
            _stone(draw, g, x, y, d, d, 0.8, rng, detail=False)


def _head(draw, spec: Spec, cx, cy, scale, squash, metal, rng, sides, accents):
    center = spec.center
    halo = next((g for g in accents if g.setting == "halo"), None)
    if center:
        length, width = center.length_mm * scale, center.width_mm * scale
        if halo:
            ring_r = (max(length, width) / 2) + halo.length_mm * scale * 0.9
            n = min(halo.count, 36)
            d = max(halo.length_mm * scale, 6)
            for i in range(n):
                a = 2 * math.pi * i / n
                _stone(draw, halo, cx + ring_r * math.cos(a) * width / max(length, width),
                       cy + ring_r * math.sin(a) * squash, d, d, squash, rng, detail=False)
        for i, side in enumerate(sides[:1]):
            sl, sw = side.length_mm * scale, side.width_mm * scale
            offset = width / 2 + sw / 2 + (halo.length_mm * scale * 2 if halo else 6)
            for direction in (-1, 1):
                _stone(draw, side, cx + direction * offset, cy + 4, sl, sw, squash, rng)
                _prongs(draw, cx + direction * offset, cy + 4, sl, sw, squash, metal)
        if center.setting == "bezel":
            draw.ellipse([cx - width / 2 - 8, cy - length / 2 * squash - 8, cx + width / 2 + 8,
                          cy + length / 2 * squash + 8], fill=_mix(metal, (255, 255, 255), 0.2),
                         outline=_mix(metal, (0, 0, 0), 0.4), width=3)
        _stone(draw, center, cx, cy, length, width, squash, rng)
        if center.setting != "bezel":
            _prongs(draw, cx, cy, length, width, squash, metal, 6 if center.shape == "round" and length > 120 else 4)
    elif sides:
        side = sides[0]
        for i in range(min(side.count, 5)):
            x = cx + (i - (min(side.count, 5) - 1) / 2) * side.width_mm * scale * 1.2
            _stone(draw, side, x, cy, side.length_mm * scale, side.width_mm * scale, squash, rng)


def _pendant(img: Image.Image, spec: Spec, tilt, rng, earrings=False) -> None:
    draw = ImageDraw.Draw(img)
    size = img.width
    metal = catalog.METALS[spec.metal].rgb
    scale = size / 30
    center = spec.center or StoneGroup(role="center", type="diamond", shape="round", length_mm=5, width_mm=5)
    positions = [(size * 0.32, size * 0.52), (size * 0.68, size * 0.52)] if earrings else [(size / 2, size * 0.58)]
    for x, y in positions:
        length, width = center.length_mm * scale, center.width_mm * scale
        if not earrings:
            for side in (-1, 1):  # the chain falls from the bail out of the frame
                pts = [(x + side * (4 + (t ** 1.6) * size * 0.5), y - length / 2 - 30 - (t ** 0.7) * size * 0.42)
                       for t in np.linspace(0, 1, 40)]
                draw.line(pts, fill=_mix(metal, (0, 0, 0), 0.15), width=5)
                draw.line(pts, fill=_mix(metal, (255, 255, 255), 0.3), width=2)
            draw.ellipse([x - 14, y - length / 2 - 44, x + 14, y - length / 2 - 12], outline=metal, width=7)
        else:
            draw.rectangle([x - 3, y - 6, x + 3, y + 4], fill=metal)
        draw.ellipse([x - width / 2 - 10, y - length / 2 - 10, x + width / 2 + 10, y + length / 2 + 10],
                     fill=_mix(metal, (255, 255, 255), 0.15), outline=_mix(metal, (0, 0, 0), 0.4), width=3)
        halo = next((g for g in spec.stones if g.setting == "halo"), None)
        if halo:
            n = min(halo.count, 30)
            for i in range(n):
                a = 2 * math.pi * i / n
                d = max(halo.length_mm * scale, 8)
                _stone(draw, halo, x + (width / 2 + d * 0.8) * math.cos(a), y + (length / 2 + d * 0.8) * math.sin(a),
                       d, d, 1.0, rng, detail=False)
        _stone(draw, center, x, y, length, width, 1.0, rng)
        _prongs(draw, x, y, length, width, 1.0, metal)


def _bracelet(img: Image.Image, spec: Spec, tilt, rng, necklace=False) -> None:
    draw = ImageDraw.Draw(img)
    size = img.width
    metal = catalog.METALS[spec.metal].rgb
    cx, cy = size / 2, size * (0.42 if necklace else 0.5)
    rx, ry = size * 0.36, size * (0.36 if necklace else 0.22) * (1 if tilt is None else 0.6 + tilt)
    stones = [g for g in spec.stones if g.role != "center"] or spec.stones
    n = 44
    link = max(8, spec.band_width_mm * size / 60)
    for i in range(n):
        a = (math.pi * (0.05 + 0.9 * i / (n - 1))) if necklace else 2 * math.pi * i / n
        x, y = cx + rx * math.cos(a), cy + ry * math.sin(a)
        if stones and not necklace:
            _stone(draw, stones[0], x, y, link * 1.4, link * 1.4, 1.0, rng, detail=False)
            draw.ellipse([x - link, y - link, x + link, y + link], outline=metal, width=4)
        else:
            draw.ellipse([x - link, y - link * 0.6, x + link, y + link * 0.6], outline=metal, width=5)
    if necklace and spec.center:
        c = spec.center
        _stone(draw, c, cx, cy + ry + c.length_mm * 6, c.length_mm * 12, c.width_mm * 12, 1.0, rng)
        _prongs(draw, cx, cy + ry + c.length_mm * 6, c.length_mm * 12, c.width_mm * 12, 1.0, metal)


_DRAW = {
    "ring": _ring,
    "pendant": _pendant,
    "earrings": lambda img, spec, tilt, rng: _pendant(img, spec, tilt, rng, earrings=True),
    "bracelet": _bracelet,
    "necklace": lambda img, spec, tilt, rng: _bracelet(img, spec, tilt, rng, necklace=True),
}


def _ink_over(img: Image.Image, box) -> tuple[int, int, int]:
    """Light ink over a dark patch of the picture, dark ink over a light one."""
    light = float(np.asarray(img.crop(box).convert("L"), dtype=float).mean())
    return (245, 245, 248) if light < 140 else (52, 48, 44)


def _caption(img: Image.Image, view: str, spec: Spec) -> None:
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", img.width // 34)
        small = ImageFont.truetype("DejaVuSans.ttf", img.width // 44)
    except OSError:  # no DejaVu on this machine: Pillow's own scalable font
        font, small = ImageFont.load_default(img.width // 34), ImageFont.load_default(img.width // 44)
    pad = img.width // 30
    ink = _ink_over(img, (0, 0, img.width // 2, pad * 3))
    draw.text((pad, pad), "SKETCH PREVIEW", fill=ink, font=font)
    draw.text((pad, pad + img.width // 26), view, fill=ink, font=small)
    ink = _ink_over(img, (0, img.height - pad * 2, img.width * 2 // 3, img.height))
    metal = catalog.METALS[spec.metal].label
    stone = spec.center.describe() if spec.center else (spec.stones[0].describe() if spec.stones else "no stones")
    draw.text((pad, img.height - pad - img.width // 40), f"{metal} {spec.piece_type} · {stone}", fill=ink, font=small)


def render(spec: Spec, view_index: int, seed: int, size: int = 640, backdrop=None,
           view_note: str = "", turn: tuple[float, float] = (1.0, 0.0)) -> tuple[Image.Image, str]:
    """One sketch of the spec in view `view_index` (0-3); returns the image and its label.
    `backdrop` (top, bottom colours) replaces the view's own; `turn` (zoom, pan) moves
    the view closer and sideways."""
    view, top, bottom, tilt = VIEWS[view_index % len(VIEWS)]
    if backdrop is not None:
        top, bottom = backdrop
    rng = random.Random(seed)
    canvas = _backdrop(size * SCALE, top, bottom, rng)
    shadow = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(shadow).ellipse([size * 0.6, size * 1.45, size * 1.4, size * 1.62], fill=70)
    canvas.paste((0, 0, 0), (0, 0), shadow.filter(ImageFilter.GaussianBlur(size * 0.05)))
    _DRAW[spec.piece_type](canvas, spec, tilt, rng)
    image = canvas.resize((size, size), Image.LANCZOS)
    if turn != (1.0, 0.0):
        image = _turned(image, *turn)
    shown = f"{view_note}{view.lower()}" if view_note else view
    _caption(image, shown[0].upper() + shown[1:], spec)
    return image, f"Sketch preview — {view_note}{view.lower()}"


def view_of(image: Image.Image, spec: Spec) -> int:
    """The view a concept was drawn in: the one whose small sketch it resembles most."""
    probe = np.asarray(image.convert("RGB").resize((48, 48)), dtype=float)
    return min(range(len(VIEWS)), key=lambda v: float(np.abs(
        np.asarray(render(spec, v, 0, 48)[0], dtype=float) - probe).mean()))


@dataclass
class PhotoLook:
    """What a sketch takes from a customer's photo: its colours and its outline."""
    backdrop: tuple[tuple[int, int, int], tuple[int, int, int]]
    line: tuple[int, int, int]
    edges: Image.Image            # "L", white where the photo has an outline


def photo_look(photo: Image.Image, size: int) -> PhotoLook:
    """The photo's two commonest colours (softened, for the backdrop), a dark line colour
    from it, and its outline (edges strong enough to see), at the sketch's size."""
    rgb = photo.convert("RGB").resize((size, size), Image.LANCZOS)
    small = rgb.resize((64, 64))
    counts = sorted(small.quantize(colors=4, method=Image.Quantize.MEDIANCUT).convert("RGB").getcolors(64 * 64),
                    reverse=True)
    first = counts[0][1]
    second = counts[1][1] if len(counts) > 1 else first
    darkest = min((c for _, c in counts), key=sum)
    grey = rgb.convert("L").filter(ImageFilter.GaussianBlur(max(1, size // 320)))
    edges = np.asarray(grey.filter(ImageFilter.FIND_EDGES), dtype=float)
    edges[:2, :] = edges[-2:, :] = 0            # FIND_EDGES marks the frame itself
    edges[:, :2] = edges[:, -2:] = 0
    peak = edges.max() or 1.0
    strong = np.clip((edges / peak - 0.15) / 0.35, 0, 1) * 255
    mask = Image.fromarray(strong.astype(np.uint8), "L").filter(ImageFilter.MaxFilter(3))
    return PhotoLook(backdrop=(_mix(first, (255, 255, 255), 0.45), _mix(second, (255, 255, 255), 0.45)),
                     line=_mix(darkest, (0, 0, 0), 0.35), edges=mask)


def _turned(image: Image.Image, zoom: float, pan: float) -> Image.Image:
    """The sketch seen a little closer (zoom >= 1), the view moved sideways by `pan`
    (a fraction of the room the zoom leaves), so nothing outside the drawing shows."""
    side = image.width / zoom
    room = image.width - side
    left = room / 2 + pan * room / 2
    top = room / 2
    return image.crop((left, top, left + side, top + side)).resize(image.size, Image.LANCZOS)


def _traced(image: Image.Image, look: PhotoLook, opacity: float) -> Image.Image:
    """The photo's outline drawn over the sketch at `opacity`."""
    mask = look.edges.point(lambda v: int(v * opacity))
    return Image.composite(Image.new("RGB", image.size, look.line), image, mask)


class SketchGenerator(Generator):
    """Draws the spec; no model, no GPU, a fraction of a second per image.

    From a concept ("more like this"): a little different keeps the concept's view and
    only moves a little closer or sideways, more different turns the piece to the other views, very
    different also changes the backdrop. From a photo: the backdrop takes the photo's
    colours and the photo's outline is traced over the piece, more faintly the more
    different the customer asked for."""

    name = "sketch"

    def __init__(self, seconds_per_image: float = 0.0):
        # Rehearsals: at least this long per image (a GPU's drawing time), cancellable.
        super().__init__()
        self.seconds_per_image = seconds_per_image

    def generate(self, request: GenerationRequest, on_progress: Callable[[float], None],
                 is_cancelled: Callable[[], bool], on_image: Callable | None = None) -> GenerationResult:
        images, labels = [], []
        size = request.width or self.default_size
        strength = request.strength if request.strength is not None else 0.55
        init = request.init_image
        look = photo_look(init, size) if init is not None and request.init_kind == "photo" else None
        base = view_of(init, request.spec) if init is not None and look is None else 0
        for i, seed in enumerate(request.seeds[: request.count]):
            if is_cancelled():
                raise GenerationCancelled()
            started = time.monotonic()
            rng = random.Random(seed)
            if look is not None:
                image, label = render(request.spec, i, seed, size, backdrop=look.backdrop,
                                      view_note="from your photo, ")
                image = _traced(image, look, 0.15 + 0.6 * (1 - strength))
            elif init is not None:
                turn = 0 if strength < 0.45 else (i if strength < 0.7 else 1 + i)
                backdrop = None
                if strength >= 0.7 and sum(VIEWS[(base + turn) % len(VIEWS)][1]) > 300:   # light views take a colour
                    tint = (rng.randrange(150, 256), rng.randrange(150, 256), rng.randrange(150, 256))
                    backdrop = (_mix(tint, (255, 255, 255), 0.5), _mix(tint, (0, 0, 0), 0.15))
                image, label = render(request.spec, base + turn, seed, size, backdrop=backdrop,
                                      turn=(1 + rng.uniform(0.1, 0.45) * strength, rng.uniform(-1, 1)))
            else:
                image, label = render(request.spec, i, seed, size)
            while time.monotonic() - started < self.seconds_per_image:
                time.sleep(min(0.05, self.seconds_per_image))
                on_progress((i + (time.monotonic() - started) / self.seconds_per_image) / request.count, None)
                if is_cancelled():
                    raise GenerationCancelled()
            images.append(image)
            labels.append(label)
            if on_image is not None:
                on_image(i, image)
            on_progress((i + 1) / request.count, None)
        return GenerationResult(images=images, seeds=list(request.seeds[: request.count]), labels=labels)
