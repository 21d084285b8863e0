"""Guided steps (piece -> metal -> stones -> size -> review, the same spec as words make)
and the ring-size guide (a printable sizer with a calibration line, and "measure a ring
you own"), on the customer app."""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from appliance.errors import Conflict, Invalid
from appliance.jewelry import catalog, ring_sizes
from appliance.studio import designs, guided, kiosks, price_books, rounds
from web.responses import render, store_of

pages = APIRouter(include_in_schema=False)

# A ring's inner diameter and a finger's circumference as people measure them (mm).
DIAMETER_MM = (12.0, 26.0)
CIRCUMFERENCE_MM = (38.0, 82.0)


def _guided_page(request: Request, answers: guided.Answers, screen: str, status_code: int = 200, error: str = ""):
    context = {"a": answers, "screen": screen, "step": guided.SCREEN_STEP.get(screen, screen), "steps": guided.STEPS,
               "titles": guided.STEP_TITLES, "pieces": catalog.PIECE_TYPES, "metals": catalog.METALS,
               "stones": catalog.STONE_TYPES, "shapes": catalog.SHAPES, "carats": guided.CARATS,
               "pearl_mm": guided.PEARL_MM, "accents": guided.accents_for(answers.piece),
               "sizes": guided.sizes_for(answers.piece), "not_sure": guided.NOT_SURE, "errors": answers.errors,
               "error": error, "guided_previous": dict(zip(guided.SCREENS[1:], guided.SCREENS)), "hidden": {k: v for k, v in answers.as_form().items()
                                          if k not in guided.SCREEN_FIELDS[screen]}}
    if screen == "review":
        spec = guided.spec_of(answers)
        context.update(spec=spec, materials=spec.materials(), quote=price_books.quote_spec(store_of(request), spec).public())
    return render(request, "customer/guided.html", context, status_code=status_code)


@pages.get("/guided")
def guided_steps(request: Request):
    """One screen of the guided steps; the answers so far travel in the address."""
    answers = guided.read_answers(request.query_params)
    screen = guided.step_to_show(answers, request.query_params.get("step", "piece"))
    elsewhere = [name for name in answers.errors if name not in guided.SCREEN_FIELDS[screen]]
    error = "Some answers were not ones we offer; you will be asked them again." if elsewhere else ""
    try:
        return _guided_page(request, answers, screen, 422 if answers.errors else 200, error)
    except Invalid as exc:          # answers that make no piece (a stone too big for it)
        answers.errors[exc.field] = exc.message
        return _guided_page(request, answers, "cut", 422, exc.message)


@pages.post("/guided")
async def guided_create(request: Request):
    """Create the design from the reviewed answers and queue its first concepts."""
    form = await request.form()
    answers = guided.read_answers(form)
    screen = guided.step_to_show(answers, "review")
    if screen != "review" or answers.errors:
        return _guided_page(request, answers, screen, 422, "Please finish this step first.")
    try:
        spec = guided.spec_of(answers)
        started = rounds.start_chosen_design(store_of(request), guided.words_of(spec, answers), spec,
                                             guided.facts_of(spec, answers.size not in ("", guided.NOT_SURE)),
                                             max_waiting=request.app.state.settings.max_queued_per_design)
    except (Invalid, Conflict) as exc:
        return _guided_page(request, answers, "cut", 422, getattr(exc, "message", str(exc)))
    if kiosk := getattr(request.state, "kiosk", None):        # at a kiosk: its customer's design
        kiosks.note_design(store_of(request), kiosk, started.design.id)
    return RedirectResponse(f"/d/{started.design.id}", status_code=303)


def _measured(request: Request) -> tuple[dict | None, dict[str, str]]:
    """The size from a measurement in the address (diameter of a ring, or around the finger)."""
    errors: dict[str, str] = {}
    for name, (low, high), to_circumference in (
            ("diameter", DIAMETER_MM, lambda mm: math.pi * mm), ("circumference", CIRCUMFERENCE_MM, lambda mm: mm)):
        raw = request.query_params.get(name, "").strip().replace(",", ".")
        if not raw:
            continue
        try:
            mm = float(raw)
        except ValueError:
            errors[name] = "Type the measurement in millimetres, for example 17.3."
            continue
        if not math.isfinite(mm) or not low <= mm <= high:
            errors[name] = f"A {'ring measures' if name == 'diameter' else 'finger measures'} between {low:g} and " \
                           f"{high:g} mm {'across' if name == 'diameter' else 'around'}; please measure again."
            continue
        around = to_circumference(mm)
        us = round(ring_sizes.circumference_to_us(around) * 4) / 4
        if not ring_sizes.ALLOWED_US[0] <= us <= ring_sizes.ALLOWED_US[1]:
            errors[name] = "That is outside the sizes a ring can be made in; please measure again."
            continue
        return {"measured": name, "mm": mm, "circumference": round(around, 1), "us": us,
                "labels": {system: ring_sizes.from_us(system, us) for system in ring_sizes.SYSTEMS}}, errors
    return None, errors


def _guided_answers(query: str) -> dict[str, str]:
    """The guided steps' answers carried to the guide (checked again by read_answers)."""
    try:
        return dict(parse_qsl(query[:500], max_num_fields=12))
    except ValueError:          # more fields than any guided step has: none of them
        return {}


@pages.get("/ring-size")
def ring_size_guide(request: Request):
    """How to find a ring size: print a sizer, or measure a ring you own."""
    result, errors = _measured(request)
    design = None
    if design_id := request.query_params.get("design", "")[:64]:
        design = designs.get_design(store_of(request), design_id)
        if design.spec.piece_type != "ring":
            design = None
    # Come from the guided steps: their answers so far, to go back with (and the size).
    from_guided = guided.read_answers(_guided_answers(request.query_params.get("guided", "")))
    back_to_guided = {k: v for k, v in from_guided.as_form().items() if k != "size"} if from_guided.piece else None
    if back_to_guided is not None and result is not None and f"{result['us']:g}" in guided.RING_SIZES:
        result["guided_size"] = f"{result['us']:g}"
    marks = [{"us": f"{n / 2:g}", "x": round(ring_sizes.us_to_circumference(n / 2), 2), "major": n % 2 == 0}
             for n in range(6, 27)]
    return render(request, "customer/ring_size.html", {
        "result": result, "errors": errors, "design": design, "marks": marks, "systems": ring_sizes.SYSTEMS,
        "chart": [{"us": f"{n / 2:g}", "diameter": f"{ring_sizes.inner_diameter(n / 2):.1f}",
                   "circumference": f"{ring_sizes.us_to_circumference(n / 2):.1f}",
                   **{system: ring_sizes.from_us(system, n / 2) for system in ("uk", "eu", "jp")}}
                  for n in range(6, 27)],
        "values": {k: request.query_params.get(k, "")[:10] for k in ("diameter", "circumference")},
        "back_to_guided": back_to_guided, "guided_query": request.query_params.get("guided", "")[:500]},
        status_code=422 if errors else 200)


@pages.post("/d/{design_id}/ring-size")
async def use_ring_size(request: Request, design_id: str):
    """Put the size the guide found on the design (a new spec revision)."""
    form = await request.form()
    store = store_of(request)
    design = designs.get_design(store, design_id)
    if design.spec.piece_type != "ring":
        raise Invalid("us_size", "This design is not a ring, so it has no ring size.")
    try:
        us = float(str(form.get("us_size", "")))
    except ValueError:
        raise Invalid("us_size", "Choose a ring size.") from None
    if not (math.isfinite(us) and ring_sizes.ALLOWED_US[0] <= us <= ring_sizes.ALLOWED_US[1]):
        raise Invalid("us_size", "That is outside the sizes a ring can be made in.")
    spec = design.spec.model_copy(update={"ring_size": round(us * 4) / 4, "size_system": "us"})
    designs.revise_spec(store, design_id, type(spec).model_validate(spec.model_dump()))
    return RedirectResponse(f"/d/{design_id}#materials", status_code=303)
