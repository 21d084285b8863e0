"""What the reader understood, fact by fact, with how it knows each one: stated in the
customer's words, guessed from them (a colour, a birth month, "thin"), or a default the
reader chose because the words said nothing. The studio lists them so a customer sees
every guess and can change it with one tap; a fact the customer has since changed in the
materials panel is shown as their choice."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from appliance.jewelry import catalog
from appliance.jewelry.specs import Spec

SOURCES = {"stated": "from your words", "guessed": "our guess", "default": "standard", "changed": "your choice"}


@dataclass
class Fact:
    field: str          # the materials panel field that changes it
    label: str
    value: str
    source: str         # stated | guessed | default | changed
    why: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def value_of(spec: Spec, field: str) -> str | None:
    """The words for one fact of a spec ('14k rose gold', 'US 6', '1.50 ct oval ...'),
    or None when the spec has no such fact (a ring size on a pendant)."""
    if field == "piece_type":
        piece = catalog.PIECE_TYPES[spec.piece_type]
        return f"{piece}, {catalog.STYLES[spec.piece_type][spec.style]}" if spec.style else piece
    if field == "metal":
        return catalog.METALS[spec.metal].label
    if field == "ring_size":
        return None if spec.ring_size is None else f"{spec.size_system.upper()} {spec.size_label}"
    if field in ("band_width_mm", "band_thickness_mm", "hoop_diameter_mm", "chain_length_mm", "bracelet_length_mm"):
        value = getattr(spec, field)
        return None if value is None else f"{value:g} mm"
    if field == "budget":
        return None if spec.budget is None else f"{spec.budget:,}"
    if field.startswith("stones-"):
        index = int(field.split("-")[1])
        return spec.stones[index].describe() if index < len(spec.stones) else None
    return None


_DEFAULT_WHY = {"band_width_mm": "the usual width", "band_thickness_mm": "the usual thickness",
                "chain_length_mm": "the usual length", "bracelet_length_mm": "the usual length",
                "hoop_diameter_mm": "the usual size"}
_LABELS = {"piece_type": "Piece", "metal": "Metal", "ring_size": "Ring size", "band_width_mm": "Band width",
           "band_thickness_mm": "Thickness", "hoop_diameter_mm": "Hoop diameter", "chain_length_mm": "Chain length",
           "bracelet_length_mm": "Length", "budget": "Budget"}


def understood(spec: Spec, sources: dict[str, tuple[str, str]], guessed_types: set[str],
               stone_guesses: dict[int, str]) -> list[Fact]:
    """The facts of a freshly read spec, each marked by how the reader knows it."""
    fields = ["piece_type", "metal"]
    if spec.piece_type == "ring":
        fields += ["ring_size", "band_width_mm", "band_thickness_mm"]
    elif spec.piece_type in ("pendant", "necklace"):
        fields += ["chain_length_mm"]
    elif spec.piece_type == "bracelet":
        fields += ["bracelet_length_mm", "band_width_mm"]
    elif spec.hoop_diameter_mm is not None or "hoop_diameter_mm" in sources:
        fields += ["hoop_diameter_mm"]
    facts = []
    for name in fields:
        value = value_of(spec, name)
        if value is None:
            continue
        source, why = sources.get(name, ("default", _DEFAULT_WHY.get(name, "")))
        facts.append(Fact(name, _LABELS[name], value, source, why))
    for i, group in enumerate(spec.stones):
        label = catalog.STONE_ROLES[group.role].capitalize()
        if group.type in guessed_types:
            source, why = "guessed", "from the colour or month"
        elif i in stone_guesses:
            source, why = "guessed", stone_guesses[i]
        else:
            source, why = "stated", ""
        facts.append(Fact(f"stones-{i}", label, group.describe(), source, why))
    if spec.budget is not None:
        facts.append(Fact("budget", "Budget", value_of(spec, "budget"), "stated"))
    return facts


def current_facts(spec: Spec, facts: list[dict]) -> list[Fact]:
    """The facts read from the words, brought up to the current spec: a fact the customer
    changed since (in the panel or a round) shows its new value as their choice, so the
    list never shows anything older than the design."""
    out = []
    for stored in facts:
        fact = Fact(**stored)
        now = value_of(spec, fact.field.split("-type")[0])
        if now is None:
            continue
        if now != fact.value:
            fact = Fact(fact.field, fact.label, now, "changed")
        out.append(fact)
    seen = {f.field for f in out}
    for i, group in enumerate(spec.stones):
        if f"stones-{i}" not in seen:
            out.append(Fact(f"stones-{i}", catalog.STONE_ROLES[group.role].capitalize(), group.describe(), "changed"))
    if spec.budget is not None and "budget" not in seen:
        out.append(Fact("budget", "Budget", value_of(spec, "budget"), "changed"))
    return out
