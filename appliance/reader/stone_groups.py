"""Stone groups completed the way a jeweler reads them: roles (centre, side, accent),
sizes the words left open (a stated total weight shared over them, or a named default),
counts from the band, halo or line the stones fill, what the customer excluded removed,
and what the reader chose marked so the studio can say so."""

from __future__ import annotations

import math
from dataclasses import dataclass

from appliance.jewelry import catalog
from appliance.jewelry.specs import StoneGroup, band_accent_count, halo_count
from appliance.reader.stone_phrases import ROW_STYLES, ReadGroup

# The largest single stone of each role a piece plausibly carries, in carats: a bigger
# figure is far more likely a misread (a karat, a size) than a fact, so it is not used.
_PLAUSIBLE_CARAT = {"center": 12.0, "side": 4.0, "accent": 1.0}
_LARGEST_MM = 30.0


@dataclass
class StoneReading:
    """The finished stone groups, with what was guessed about them."""
    groups: list[StoneGroup]
    guesses: dict[int, str]          # group index -> what the reader chose for it
    total_carat: float | None = None


def finish_groups(groups: list[ReadGroup], fields: dict, notes: list[str], excluded: set[str]) -> StoneReading:
    """Roles, sizes and counts completed the way a jeweler would read them; what the
    customer excluded ('no halo', 'no side stones') removed; total weights spread."""
    style = fields.get("style")
    piece = fields["piece_type"]
    row_style = style in ROW_STYLES
    band_line = fields.pop("_band_line", False)
    named = [g for g in groups if g.role is None]
    # Many different stones named, none sized or singled out: a family or mother's ring.
    family = len({g.type for g in named}) >= 4 and not any(g.sized for g in named)
    center_taken = any(g.role == "center" for g in groups)
    for g in groups:
        if g.role is not None:
            continue
        if family:
            g.role = "side"
        elif band_line and piece == "ring" and not any(x.role == "center" for x in groups):
            # 'half eternity band, 7 princess cut diamonds': a line of stones set in the band.
            g.role = "accent"
        elif g.plural and g.count is None and piece != "earrings" and style != "three_stone" \
                and (g.carat is None or g.carat < 0.3):
            # 'a band with princess cut diamonds', 'green stones': a line of small stones.
            g.role = "accent"
        elif row_style or (g.count or 1) > 1 and not style == "three_stone":
            g.role = "accent" if row_style else "side"
        elif not center_taken:
            g.role, center_taken = "center", True
        elif piece in ("earrings", "pendant") and not g.plural and g.count is None:
            # 'a 5mm round amethyst on top' of a drop: one more stone, not a pair of sides.
            g.role, g.count = "accent", 1
        else:
            g.role = "side"
    if piece == "earrings":
        for g in groups:
            if g.role in ("center", "side") and g.count == 2 and style != "hoop":
                # 'two princess cut diamonds' for studs: one in each earring.
                g.role, g.count = "center", 1
    groups = _without_excluded(groups, excluded, notes)
    center = next((g for g in groups if g.role == "center"), None)
    for g in groups:
        if g.length is not None and max(g.length, g.width or 0) > _LARGEST_MM:
            notes.append(f"{g.length:g} mm seemed too large for one stone; we did not use it. "
                         "Set the size in the materials panel.")
            g.length = g.width = None
        if g.total_carat and g.total_carat > 60:
            notes.append(f"{g.total_carat:g} ct in total seemed too much for one piece; we did not use it.")
            g.total_carat = None
        if g.carat and g.carat > _PLAUSIBLE_CARAT[g.role] and not catalog.STONE_TYPES[g.type].by_piece:
            notes.append(f"{g.carat:g} ct seemed too large for one {catalog.STONE_TYPES[g.type].label}; "
                         "we did not use it. Set the size in the materials panel.")
            g.carat = None
    if center and center.count and center.count == 3 and style == "three_stone":
        center.count = 1
        groups.append(ReadGroup(center.type, role="side", shape=center.shape, length=center.length,
                             width=center.width, count=2, setting=center.setting, carat=center.carat))
    # Accents follow the centre's lab or natural origin unless the customer said otherwise.
    if center and center.type == "lab_diamond":
        for g in groups:
            if g is not center and g.type == "diamond" and not g.origin_stated:
                g.type = "lab_diamond"
    if style == "three_stone" and center and not any(g.role == "side" for g in groups) and "side" not in excluded:
        groups.append(ReadGroup(center.type, role="side", shape=center.shape, count=2))
    piece_total = fields.pop("_total_carat", None) or next((g.pending_total for g in groups if g.pending_total), None)
    if piece_total and piece_total > 60:
        notes.append(f"{piece_total:g} ct in total seemed too much for one piece; we did not use it.")
        piece_total = None
    if piece_total and not groups:
        # 'plat eternity band 1ct tw': a weight with no stone named is diamonds, our guess.
        groups.append(ReadGroup("diamond", role="accent" if row_style else "center", type_guessed=True))
        center = groups[0] if groups[0].role == "center" else None
    total, spread = _spread_total(groups, center, piece, style, notes, piece_total)
    for g in groups:
        if g.carat and g.length is None and not catalog.STONE_TYPES[g.type].by_piece:
            g.length, g.width = catalog.stone_size_for_carat(g.type, g.shape, g.carat)
        elif g.carat and g.length is None:
            g.length = g.width = 7.0
    guessed: dict[int, str] = {id(g): "no stone named" for g in groups if g.type_guessed}
    for g in groups:
        if id(g) in spread:
            guessed.setdefault(id(g), "size shared from the total")
    if any(g.type_guessed for g in groups):
        notes.append("No stone named; showing a natural diamond. Change it in the materials panel.")
    if center and not center.sized and center.carat is None:
        center.length, center.width = (7.0, 7.0) if catalog.STONE_TYPES[center.type].by_piece else \
            catalog.stone_size_for_carat(center.type, center.shape, 1.0)
        label = catalog.STONE_TYPES[center.type].label
        notes.append(f"No size given for the {label}; assumed " +
                     ("7 mm." if catalog.STONE_TYPES[center.type].by_piece else "about 1 carat."))
        guessed.setdefault(id(center), "size not given")
    if family:
        notes.append("No sizes given for the stones; each is shown at 3 mm. Change them in the materials panel.")
        for g in groups:
            if g.role == "side" and g.length is None:
                g.length = g.width = 3.0
                g.count = g.count or 1
                guessed.setdefault(id(g), "size not given")
    # Stones set in the band need a wall either side: an unstated band width follows them.
    band_stones = [g.length for g in groups if g.role == "accent" and g.setting != "halo" and g.length]
    if piece == "ring" and band_stones and "band_width_mm" not in fields:
        fields["band_width_mm"] = round(max(2.0, max(band_stones) + 0.8), 1)
    order = {"center": 0, "side": 1, "accent": 2}
    ordered = sorted(groups, key=lambda g: order[g.role])
    for g in ordered:
        if g.length is None and g.total_carat is None and not g.carat:
            guessed.setdefault(id(g), "size not given")
        if g.role != "accent" and not g.shape_stated and not catalog.STONE_TYPES[g.type].by_piece:
            guessed.setdefault(id(g), "shape not given")
    lines = sum(1 for g in ordered if g.role == "accent" and g.setting != "halo" and not g.count)
    out = [_stone_group(g, center, fields, style, max(1, lines)) for g in ordered]
    return StoneReading(out, {i: guessed[id(g)] for i, g in enumerate(ordered) if id(g) in guessed}, total)


def _without_excluded(groups: list[ReadGroup], excluded: set[str], notes: list[str]) -> list[ReadGroup]:
    kept = []
    for g in groups:
        if "halo" in excluded and g.setting == "halo":
            continue
        if "side" in excluded and g.role == "side":
            continue
        if "accent" in excluded and g.role == "accent" and g.setting != "halo":
            continue
        if "stones" in excluded and g.role != "center":
            continue
        if "diamond" in excluded and g.type in ("diamond", "lab_diamond") and g.role != "center":
            continue
        if "gems" in excluded and g.type not in ("diamond", "lab_diamond", "moissanite") and g.role != "center":
            continue
        kept.append(g)
    if "lab" in excluded:
        for g in kept:
            if g.type == "lab_diamond":
                g.type = "diamond"
    return kept


def _known_carat(g: ReadGroup) -> float | None:
    """The weight of a group already sized by the words (None while open)."""
    if catalog.STONE_TYPES[g.type].by_piece:
        return 0.0
    count = g.count or (2 if g.role == "side" else 1)
    if g.carat:
        return g.carat * count
    if g.length is not None:
        return catalog.stone_carat(g.type, g.shape, g.length, g.width or g.length) * count
    return None


# How a piece's total weight usually divides between the stones left open (centre, side
# stones, small stones), by which of them are open.
_SHARES = {
    (True, True, True): (0.5, 0.3, 0.2), (True, True, False): (0.5, 0.5, 0.0),
    (True, False, True): (0.75, 0.0, 0.25), (True, False, False): (1.0, 0.0, 0.0),
    (False, True, True): (0.0, 0.6, 0.4), (False, True, False): (0.0, 1.0, 0.0),
    (False, False, True): (0.0, 0.0, 1.0),
}


def _spread_total(groups: list[ReadGroup], center: ReadGroup | None, piece: str, style: str | None,
                  notes: list[str], piece_total: float | None) -> tuple[float | None, set[int]]:
    """A total weight said for the piece ('1.25ctw three stone', '0.5ctw studs') spread
    over the stones the words left unsized, by the usual proportions; stones the customer
    sized keep their size. A total said for one line of accents stays theirs. Returns the
    total and the groups whose size was shared out (a guess the studio marks)."""
    carrier = next((g for g in groups if g.total_carat and (g.role in ("center", "side") or g is center
                                                            or piece_total is not None)), None)
    total = piece_total
    if carrier is not None:
        total = carrier.total_carat if total is None else total
        carrier.total_carat = None
    if total is None:
        return next((g.total_carat for g in groups if g.total_carat), None), set()
    pair = piece == "earrings"
    each_piece = total / 2 if pair else total
    # A line of small stones sized but not counted ('15ctw, 4mm stones'): the total says how many.
    uncounted = [g for g in groups if g.role == "accent" and g.count is None and g.length is not None
                 and g.setting != "halo" and not catalog.STONE_TYPES[g.type].by_piece]
    if len(uncounted) == 1:
        line = uncounted[0]
        line.count = 0
        others = sum(_known_carat(g) or 0 for g in groups if g is not line and _known_carat(g) is not None)
        each = catalog.stone_carat(line.type, line.shape, line.length, line.width or line.length)
        line.count = max(1, round((each_piece - others) / each)) if each_piece > others else None
    open_groups = [g for g in groups if _known_carat(g) is None and not g.total_carat]
    known = sum(_known_carat(g) or 0 for g in groups if g not in open_groups)
    remaining = each_piece - known
    if not open_groups or remaining <= 0.005:
        if abs(known - each_piece) > 0.2 * each_piece:
            notes.append(f"The stones you described weigh about {known * (2 if pair else 1):.2f} ct, not the "
                         f"{total:g} ct total you gave; the jeweler will confirm.")
        return total, set()
    centre_open = center in open_groups
    sides = [g for g in open_groups if g.role == "side"]
    accents = [g for g in open_groups if g.role == "accent"]
    shares = _SHARES[(centre_open, bool(sides), bool(accents))]
    if centre_open:
        center.carat = remaining * shares[0] / (center.count or 1)
    for g in sides:
        g.carat = remaining * shares[1] / len(sides) / (g.count or 2)
    for g in accents:
        g.total_carat = remaining * shares[2] / len(accents)
    spread = {id(g) for g in open_groups}
    if pair:
        notes.append(f"{total:g} ct total weight for the pair: {each_piece:.2f} ct in each earring.")
    elif len(open_groups) > 1 or known:
        notes.append(f"{total:g} ct total weight: we shared it between the stones the usual way; "
                     "the jeweler will confirm the exact sizes.")
    return total, spread if len(open_groups) > 1 or known else set()


def _stone_group(g: ReadGroup, center: ReadGroup | None, fields: dict, style: str | None, lines: int = 1) -> StoneGroup:
    piece = fields["piece_type"]
    if g.role == "side" and g.length is None and not g.carat:
        base = center.width if center and center.width else 6.5
        g.length = g.width = round(base * 0.65, 2)
    if g.length is None:
        default = {"eternity": 2.5, "tennis": 2.5, "riviera": 3.0, "hoop": 1.5}.get(style, 1.3)
        g.length = g.width = default
    setting = g.setting or ("pave" if g.role == "accent" and piece == "ring" else "prong")
    if catalog.STONE_TYPES[g.type].by_piece:
        g.shape, g.width = "round", g.length            # pearls are measured round, by diameter
    group = StoneGroup(role=g.role, type=g.type, shape=g.shape, length_mm=min(max(g.length, 0.8), _LARGEST_MM),
                       width_mm=min(max(g.width or g.length, 0.8), _LARGEST_MM),
                       count=g.count or (2 if g.role == "side" else 1), setting=setting)
    if g.role != "accent" or g.count and not g.total_carat:
        return group
    # Lines of accents in one row ('alternating tanzanite and diamond') share its places.
    share = lines if g.setting != "halo" else 1
    if g.total_carat:
        # The size that gives the stated total at the count the piece holds.
        for _ in range(30):
            n = g.count or _accent_count(group, center, fields, style, share)
            d = (g.total_carat / n / catalog.stone_carat(g.type, g.shape, 1.0, 1.0)) ** (1 / 3)
            d = round(min(max(d, 0.8), 8.0), 2)       # accents are small stones, whatever the total said
            group = group.model_copy(update={"length_mm": d, "width_mm": d})
    return group.model_copy(update={"count": g.count or _accent_count(group, center, fields, style, share)})


def _accent_count(group: StoneGroup, center: ReadGroup | None, fields: dict, style: str | None, share: int = 1) -> int:
    """How many accents of this size the piece holds; `share` lines alternate in one row."""
    d = group.length_mm
    piece = fields["piece_type"]
    if group.setting == "halo" and center is not None and center.length:
        return halo_count(StoneGroup(length_mm=center.length, width_mm=center.width or center.length,
                                     shape=center.shape, type=center.type), d)
    if piece == "ring":
        return max(1, band_accent_count(fields.get("ring_size", 7.0), d, style == "eternity",
                                        fields.get("band_width_mm", 2.0)) // share)
    if piece == "bracelet":
        return max(1, int(fields.get("bracelet_length_mm", 180) // (d + 0.3) // share))
    if piece == "necklace" and style == "riviera":
        return max(1, int(fields.get("chain_length_mm", 450) // (d + 0.4) // share))
    if piece == "earrings" and style == "hoop":
        return max(1, int(math.pi * (fields.get("hoop_diameter_mm") or 15) / 2 // (d + 0.3)))
    return 12
