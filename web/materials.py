"""The materials panel: the spec as an HTML form and back, with errors keyed by the form
field they belong to."""

from __future__ import annotations

from pydantic import ValidationError

from appliance.jewelry import catalog, ring_sizes
from appliance.jewelry.specs import MAX_STONE_GROUPS, Spec, field_errors

MAX_GROUPS = MAX_STONE_GROUPS


def form_name(field: str) -> str:
    """'stones.0.length_mm' -> 'stones-0-length_mm' (the input's name attribute)."""
    return field.replace(".", "-")


def field_anchor(field: str) -> str:
    """The id of the panel input that changes a fact ('stones-1' -> 'stones-1-type')."""
    if field.startswith("stones-"):
        return f"{field}-type"
    return {"piece_type": "piece_type-m"}.get(field, field)


def spec_from_form(form, current: Spec) -> tuple[dict, dict]:
    """The submitted panel as spec data (stone groups removed or added as asked), and the
    errors the form itself finds (a ring size that does not exist in its system)."""
    def value(name: str, default=None):
        raw = form.get(name)
        return default if raw is None or str(raw).strip() == "" else str(raw).strip()

    data: dict = {
        "piece_type": value("piece_type", current.piece_type),
        "style": value("style", current.style),
        "metal": value("metal", current.metal),
        "size_system": value("size_system", current.size_system),
        "ring_size": current.ring_size,
        "band_width_mm": value("band_width_mm", current.band_width_mm),
        "band_thickness_mm": value("band_thickness_mm", current.band_thickness_mm),
        "profile": value("profile", current.profile),
        "finish": value("finish", current.finish),
        "chain_length_mm": value("chain_length_mm", current.chain_length_mm),
        "chain_style": value("chain_style", current.chain_style),
        "bracelet_length_mm": value("bracelet_length_mm", current.bracelet_length_mm),
        "hoop_diameter_mm": value("hoop_diameter_mm", current.hoop_diameter_mm),
        # An emptied budget field means no budget (every other field keeps its value).
        "budget": None if form.get("budget") is not None and not str(form.get("budget")).strip()
        else value("budget", current.budget),
        "stones": [],
    }
    errors: dict = {}
    if data["piece_type"] not in catalog.PIECE_TYPES:
        errors["piece_type"] = f"Choose one of: {', '.join(catalog.PIECE_TYPES)}."
        data["piece_type"] = current.piece_type
    if data["style"] == "auto" or data["piece_type"] != current.piece_type:
        data["style"] = None
    label = value("ring_size")
    if data["size_system"] != current.size_system and current.ring_size is not None:
        label = None                       # switching systems shows the same size in the new one
    if label is not None and data["piece_type"] == "ring":
        try:
            data["ring_size"] = round(ring_sizes.to_us(data["size_system"], label), 4)
        except ring_sizes.RingSizeError as exc:
            errors["ring_size"] = str(exc)
        else:
            if not ring_sizes.ALLOWED_US[0] <= data["ring_size"] <= ring_sizes.ALLOWED_US[1]:
                errors["ring_size"] = "We make rings from US 1 to US 16; please check the size."
    for i in range(MAX_GROUPS):
        prefix = f"stones-{i}-"
        if form.get(prefix + "type") is None:
            continue
        if form.get(prefix + "remove"):
            continue
        data["stones"].append({
            "role": value(prefix + "role", "center"),
            "type": value(prefix + "type"),
            "shape": value(prefix + "shape", "round"),
            "length_mm": value(prefix + "length_mm"),
            "width_mm": value(prefix + "width_mm", value(prefix + "length_mm")),
            "count": value(prefix + "count", 1),
            "setting": value(prefix + "setting", "prong"),
            # A grade the new stone type is not sold by falls back to the store's standard.
            "quality": value(prefix + "quality") if value(prefix + "quality") in catalog.quality_choices(
                str(value(prefix + "type"))) else None,
        })
    new_type, role = value("add-type"), value("add-role")
    # Stones are added once the customer has said both what and how ('ruby' 'as the
    # centre stone'); one choice alone adds nothing yet.
    if new_type and role in catalog.STONE_ROLES and len(data["stones"]) < MAX_GROUPS:
        size = 6.5 if role == "center" else (1.3 if role == "accent" else 4.0)
        data["stones"].append({"role": role, "type": new_type, "shape": "round", "length_mm": size,
                               "width_mm": size, "count": 1 if role == "center" else (2 if role == "side" else 12),
                               "setting": "pave" if role == "accent" else "prong"})
    return data, errors


def validate(data: dict, errors: dict | None = None) -> tuple[Spec | None, dict[str, str]]:
    """The spec, or None and {form field name: message}."""
    errors = dict(errors or {})
    try:
        spec = Spec(**data)
    except ValidationError as exc:
        for err in field_errors(exc):
            errors.setdefault(form_name(err["field"]), err["message"])
        return None, errors
    return (None, errors) if errors else (spec, {})


def pending_add(form, data: dict) -> dict:
    """An 'Add stones' choice half made (a type without its role), kept on the page."""
    if form.get("add-type") and not form.get("add-role"):
        return {"type": str(form.get("add-type")), "role": ""}
    return {"type": "", "role": ""}


def panel_context(spec: Spec | dict, errors: dict | None = None, pending: dict | None = None) -> dict:
    """What `_materials.html` needs: the values shown (possibly invalid ones the customer
    typed, kept as typed), the catalog's choices and the errors."""
    if isinstance(spec, Spec):
        values = spec.model_dump()
        values["size_label"] = spec.size_label
        values["effective_style"] = spec.effective_style
    else:
        values = dict(spec)
        values.setdefault("size_label", "")
        values.setdefault("effective_style", values.get("style") or "")
    return {
        "values": values,
        "errors": errors or {},
        "metals": catalog.METALS,
        "stone_types": catalog.STONE_TYPES,
        "shapes": catalog.SHAPES,
        "settings_": catalog.SETTINGS,
        "roles": catalog.STONE_ROLES,
        "pieces": catalog.PIECE_TYPES,
        "finishes": catalog.FINISHES,
        "profiles": catalog.PROFILES,
        "styles": catalog.STYLES,
        "chain_styles": catalog.CHAIN_STYLES,
        "size_systems": ring_sizes.SYSTEMS,
        "quality_choices": catalog.quality_choices,
        "pending_add": pending or {"type": "", "role": ""},
        "carats": _carats(values),
    }


def _carats(values: dict) -> list[str]:
    out = []
    for g in values.get("stones", []):
        try:
            out.append(f"{catalog.stone_carat(g['type'], g['shape'], float(g['length_mm']), float(g['width_mm'])):.2f} ct each")
        except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
            out.append("")
    return out
