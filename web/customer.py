"""The customer app: studio pages (HTMX) and the /api/v1 customer routes.

Design ids and order tokens are unguessable capabilities: whoever holds the link may see
and change that design or follow that order, and nothing else.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from fastapi import APIRouter, File, Header, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from appliance.errors import Conflict, Invalid, NotFound
from appliance.jewelry import catalog
from appliance.jewelry.specs import Spec
from appliance.reader.facts import SOURCES
from appliance.studio import designs, guided, jobs, orders, price_books, rounds, uploads, versions
from web import materials
from web.responses import is_htmx, mail_queued, notices_of, picture, render, store_of

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["customer"])


# ---------------------------------------------------------------- shared views

def _image_json(image: designs.Image) -> dict:
    return {"id": image.id, "url": image.url, "parent_id": image.parent_id, "instruction": image.instruction,
            "label": image.label, "round": image.round, "seed": image.seed, "generator": image.generator,
            "spec_revision": image.spec_revision,
            "metal_check": {"verdict": image.metal_check, "reason": image.metal_check_reason}}


def _job_json(store, job: jobs.Job) -> dict:
    return {"id": job.id, "status": job.status, "progress": round(job.progress, 3),
            "position": jobs.position(store, job), "error": job.error,
            "preview_url": f"/jobs/{job.id}/preview.jpg" if job.preview_path and job.open else None,
            "images": [{"id": r["id"], "url": f"/images/{r['id']}.png"} for r in jobs.images_of(store, job.id)]}


def _design_context(request: Request, design: designs.Design, **extra) -> dict:
    store = store_of(request)
    images = designs.images(store, design.id)
    job = jobs.latest_job(store, design.id)
    rounds: dict[int, list] = {}
    for image in images:
        rounds.setdefault(image.round, []).append(image)
    selected = designs.chosen_image_id(design, images)
    chosen = next((i for i in images if i.id == selected), None)
    outdated = chosen is not None and not designs.drawn_with_current_spec(design, chosen)
    context = {
        "design": design, "rounds": sorted(rounds.items(), reverse=True), "job": job,
        "tree": versions.tree(store, design.id, images),
        "concept_numbers": versions.concept_numbers(images),
        "strengths": jobs.STRENGTHS, "tree_message": None, "tree_error": False,
        "position": jobs.position(store, job) if job else None, "selected": selected,
        "chosen_outdated": outdated,
        # "Go back to its materials" only where going back would change them (the
        # customer's own ring size is kept, so a size change alone leaves nothing to undo).
        "can_go_back": outdated and versions.changes_going_back(design, chosen),
        "outdated_images": {i.id for i in images if not designs.drawn_with_current_spec(design, i)},
        "chosen_changes": designs.changed_since(Spec.model_validate_json(chosen.spec_json), design.spec)
        if outdated else [],
        # One key per design revision and chosen concept: a double click, a retry, or Back
        # (even to a reloaded page) and resend places one order.
        "idempotency_key": hashlib.sha256(f"{design.id}:{design.spec_revision}:{selected}".encode()).hexdigest()[:32],
        "quote": price_books.quote_spec(store, design.spec).public(),
        "order_token": request.query_params.get("order"), "contact": {}, "order_errors": {},
        "understood": design.understood(), "fact_sources": SOURCES,
        "budget": price_books.budget_view(store, design.spec),
        "standard_grades": price_books.standard_grades(store),
        **materials.panel_context(design.spec),
    }
    context.update(extra)
    return context


# ---------------------------------------------------------------- pages

@pages.get("/")
def studio(request: Request):
    return render(request, "customer/studio.html", {"description": "", "piece_type": "", "error": None,
                                                     "pieces": catalog.PIECE_TYPES})


@pages.post("/designs")
async def start_design(request: Request):
    form = await request.form()
    description, piece_type = form.get("description", ""), form.get("piece_type") or None
    store = store_of(request)
    try:
        started = rounds.start_design(store, description, piece_type,
                                      max_waiting=request.app.state.settings.max_queued_per_design)
    except Invalid as exc:
        return render(request, "customer/studio.html", {
            "description": description, "piece_type": piece_type or "", "error": exc.message,
            "pieces": catalog.PIECE_TYPES}, status_code=422)
    return RedirectResponse(f"/d/{started.design.id}", status_code=303)


@pages.get("/d/{design_id}")
def design_page(request: Request, design_id: str):
    design = designs.get_design(store_of(request), design_id)
    return render(request, "customer/design.html", _design_context(request, design))


@pages.get("/d/{design_id}/gallery")
def gallery(request: Request, design_id: str):
    design = designs.get_design(store_of(request), design_id)
    # The order form's chosen concept follows the gallery (the first round arrives here), and
    # the panel follows the design when the page shows an older revision (a region edit).
    shown = request.query_params.get("rev", "")
    stale = shown != str(design.spec_revision)
    return render(request, "customer/_gallery.html", _design_context(request, design, oob_chosen=True,
                                                                      oob_materials=stale))


@pages.post("/d/{design_id}/select")
async def select(request: Request, design_id: str):
    form = await request.form()
    design = designs.select_image(store_of(request), design_id, str(form.get("image_id", "")))
    if not is_htmx(request):
        return RedirectResponse(f"/d/{design_id}", status_code=303)
    return render(request, "customer/_gallery.html", _design_context(request, design, oob_chosen=True))


@pages.post("/d/{design_id}/rounds")
async def new_round(request: Request, design_id: str):
    form = await request.form()
    store = store_of(request)
    design = designs.get_design(store, design_id)
    instruction = str(form.get("instruction", "")).strip()
    parent = str(form.get("parent_image_id", "")).strip() or designs.chosen_image_id(
        design, designs.images(store, design_id))
    strength = str(form.get("strength", "")).strip() or None
    error, changes = None, []
    try:
        made = rounds.new_round(store, design_id, instruction=instruction, parent_image_id=parent,
                                strength=strength, max_waiting=request.app.state.settings.max_queued_per_design)
        design, changes = made.design, made.changes
    except (Invalid, Conflict) as exc:
        error = getattr(exc, "message", str(exc))
    if not is_htmx(request):
        return RedirectResponse(f"/d/{design_id}", status_code=303)
    context = _design_context(request, design, round_error=error, changes=changes, oob_materials=bool(changes),
                              instruction=instruction if error else "")
    return render(request, "customer/_gallery.html", context, status_code=422 if error else 200)


@pages.post("/d/{design_id}/jobs/{job_id}/cancel")
def cancel_job(request: Request, design_id: str, job_id: str):
    store = store_of(request)
    job = jobs.get_job(store, job_id)
    if job.design_id != design_id:
        raise NotFound("No job with that id.")
    jobs.cancel(store, job_id)
    if not is_htmx(request):
        return RedirectResponse(f"/d/{design_id}", status_code=303)
    return render(request, "customer/_gallery.html", _design_context(request, designs.get_design(store, design_id)))


@pages.post("/d/{design_id}/spec")
async def edit_spec(request: Request, design_id: str):
    form = await request.form()
    store = store_of(request)
    design = designs.get_design(store, design_id)
    data, form_errors = materials.spec_from_form(form, design.spec)
    spec, errors = materials.validate(data, form_errors)
    if spec is not None:
        design = designs.update_spec(store, design_id, spec)
    # What the customer typed stays on the page beside its message.
    shown = spec or {**data, "size_label": str(form.get("ring_size", ""))}
    if not is_htmx(request):
        if errors:
            context = _design_context(request, design, **materials.panel_context(shown, errors))
            return render(request, "customer/design.html", context, status_code=422)
        return RedirectResponse(f"/d/{design_id}", status_code=303)
    context = _design_context(request, design, **materials.panel_context(shown, errors, materials.pending_add(form, data)),
                              oob_chosen=True)
    return render(request, "customer/_materials.html", context, status_code=422 if errors else 200)


@pages.post("/d/{design_id}/budget")
async def apply_budget_option(request: Request, design_id: str):
    """One tap on a budget suggestion: the design takes that change as a new revision."""
    form = await request.form()
    store = store_of(request)
    design = designs.get_design(store, design_id)
    view = price_books.budget_view(store, design.spec) or {"options": []}
    choice, revision = str(form.get("option", "")), str(form.get("spec_revision", ""))
    if revision != str(design.spec_revision):
        raise Conflict("Your design changed after this page showed it; the suggestions below are up to date.")
    chosen = next((o for i, o in enumerate(view["options"]) if choice == str(i)), None)
    if chosen is None:
        raise Invalid("option", "Pick one of the suggestions shown.")
    design = designs.update_spec(store, design_id, Spec.model_validate(chosen["spec"]))
    if not is_htmx(request):
        return RedirectResponse(f"/d/{design_id}", status_code=303)
    context = _design_context(request, design, oob_chosen=True)
    return render(request, "customer/_materials.html", context)


@pages.post("/d/{design_id}/order")
async def order_from_page(request: Request, design_id: str):
    form = await request.form()
    store = store_of(request)
    design = designs.get_design(store, design_id)
    contact = {k: str(form.get(k, "")) for k in ("name", "email", "phone", "notes")}
    image_id = str(form.get("image_id", "")) or designs.chosen_image_id(design, designs.images(store, design.id)) or ""
    key = str(form.get("idempotency_key", "")) or None
    revision = str(form.get("spec_revision", "")).strip()
    try:
        checked = orders.check_contact(**contact)
        order = orders.place_order(store, design_id, image_id, checked,
                                   spec_revision=int(revision) if re.fullmatch(r"[0-9]{1,9}", revision) else None,
                                   shown_total=str(form.get("quote_total", "")) or None, idempotency_key=key,
                                   notices=notices_of(request))
        mail_queued(request)
    except (Invalid, Conflict) as exc:
        # What the customer typed stays; a design that moved on shows its current panel.
        field = getattr(exc, "field", "order")
        context = _design_context(request, designs.get_design(store, design_id), contact=contact,
                                  order_errors={field if field in ("name", "email", "phone", "notes", "image_id")
                                                else "order": getattr(exc, "message", str(exc))},
                                  oob_materials=isinstance(exc, Conflict) and is_htmx(request),
                                  # A design that moved on gets the key of its new revision.
                                  **({"idempotency_key": key} if key and not isinstance(exc, Conflict) else {}))
        template = "customer/_order_form.html" if is_htmx(request) else "customer/design.html"
        return render(request, template, context, status_code=409 if isinstance(exc, Conflict) else 422)
    url = f"/o/{order['token']}?placed=1"
    if is_htmx(request):
        return render(request, "customer/_order_form.html", _design_context(request, design),
                       headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@pages.post("/d/{design_id}/photo")
async def start_from_photo(request: Request, design_id: str):
    """A round drawn from the customer's reference photo (the studio's upload form)."""
    form = await request.form()
    store = store_of(request)
    design = designs.get_design(store, design_id)
    photo = form.get("photo")
    error = None
    try:
        data = await photo.read(uploads.MAX_BYTES + 1) if hasattr(photo, "read") else b""
        upload = uploads.accept(store, request.app.state.settings.uploads_dir, design_id, "reference", data)
        rounds.new_round(store, design_id, reference_id=upload.id, instruction=str(form.get("instruction", "")) or None,
                         strength=str(form.get("strength", "")) or None,
                         max_waiting=request.app.state.settings.max_queued_per_design)
    except (Invalid, Conflict) as exc:
        error = getattr(exc, "message", str(exc))
    if not is_htmx(request):
        if error:
            return render(request, "customer/design.html", _design_context(request, design, photo_error=error),
                          status_code=422)
        return RedirectResponse(f"/d/{design_id}", status_code=303)
    return render(request, "customer/_gallery.html", _design_context(request, design, photo_error=error),
                  status_code=422 if error else 200)


@pages.get("/jobs/{job_id}/preview.jpg")
def job_preview(request: Request, job_id: str):
    """The running job's latest cheap preview (from the latents, no VAE decode)."""
    job = jobs.get_job(store_of(request), job_id)
    if not job.preview_path or not job.open:
        raise NotFound("No preview: the round has not drawn one yet, or it has ended.")
    return picture(request.app.state.settings.images_dir / job.preview_path, "image/jpeg", "no-store")


@pages.get("/images/{image_id}.png")
def image_file(request: Request, image_id: str):
    image = designs.get_image(store_of(request), image_id)
    return picture(request.app.state.settings.images_dir / image.path, "image/png",
                   "private, max-age=31536000, immutable")


# ---------------------------------------------------------------- JSON API

class DesignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(None, max_length=designs.MAX_DESCRIPTION,
                                    description="The customer's words (required unless `spec` is given).")
    piece_type: str | None = Field(None, max_length=20)
    spec: Spec | None = Field(None, description="A spec the customer chose (guided steps in a client): used as it "
                              "is, nothing read from the words.")
    # Whether the client's spec named a size (a Spec fills in the usual one otherwise, and
    # that is the standard, not the customer's choice); set from the body, never sent.
    spec_sized: SkipJsonSchema[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _note_a_given_size(cls, data):
        if isinstance(data, dict):
            given = data.get("spec")
            data = {**data, "spec_sized": isinstance(given, dict) and bool(
                {"ring_size", "chain_length_mm", "bracelet_length_mm"} & set(given))}
        return data


class RenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction: str | None = Field(None, max_length=jobs.MAX_INSTRUCTION)
    parent_image_id: str | None = Field(None, max_length=64)
    reference_id: str | None = Field(None, max_length=64)
    mask_id: str | None = Field(None, max_length=64)
    count: int = Field(4, ge=1, le=jobs.MAX_IMAGES_PER_ROUND)
    strength: Literal["little", "more", "very"] | None = Field(
        None, description="More like this: how different from the concept or photo it starts from.")


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: str = Field(..., max_length=64)
    name: str = Field(..., max_length=120)
    email: str = Field(..., max_length=254)
    phone: str | None = Field(None, max_length=40)
    notes: str | None = Field(None, max_length=2000)
    spec_revision: int = Field(..., ge=1, le=2**31, description="The design's spec_revision the customer was shown.")
    quote_total: str | None = Field(None, max_length=24, description="The total the customer was shown.")


def _design_json(store, design: designs.Design) -> dict:
    return {"id": design.id, "description": design.description, "spec": design.spec.model_dump(),
            "spec_revision": design.spec_revision, "chosen_image_id": designs.chosen_image_id(
                design, designs.images(store, design.id)),
            "quote": price_books.quote_spec(store, design.spec).public(), "notes": design.notes,
            "unplaced": design.unplaced, "details": design.details,
            "budget": price_books.budget_view(store, design.spec),
            "understood": [f.as_dict() for f in design.understood()],
            "selected_image_id": design.selected_image_id,
            "images": [_image_json(i) for i in designs.images(store, design.id)]}


@api.post("/designs", status_code=201)
def api_create_design(request: Request, body: DesignIn):
    """Start a design from the customer's words; the id is the capability to use it."""
    if body.piece_type is not None and body.piece_type not in catalog.PIECE_TYPES:
        raise Invalid("piece_type", "Choose ring, pendant, earrings, bracelet or necklace.")
    store = store_of(request)
    limit = request.app.state.settings.max_queued_per_design
    if body.spec is not None:
        words = body.description or f"Chosen piece: {body.spec.summary()}."
        started = rounds.start_chosen_design(store, words, body.spec, guided.facts_of(body.spec, body.spec_sized),
                                             max_waiting=limit)
    else:
        started = rounds.start_design(store, body.description or "", body.piece_type, max_waiting=limit)
    return {**_design_json(store, started.design), "job": {"id": started.job.id, "status": started.job.status}}


@api.get("/designs/{design_id}")
def api_get_design(request: Request, design_id: str):
    """The design with its spec, current quote and every image."""
    store = store_of(request)
    return _design_json(store, designs.get_design(store, design_id))


@api.put("/designs/{design_id}/spec")
async def api_put_spec(request: Request, design_id: str, spec: Spec):
    """Replace the spec (the materials panel); returns it with the new quote."""
    store = store_of(request)
    revision = designs.revise_spec(store, design_id, spec)
    # Plain JSON already (strings and numbers): answered as it is, not walked again by
    # FastAPI's encoder, which cost more than the pricing itself.
    return JSONResponse({"spec": spec.model_dump(mode="json"), "spec_revision": revision,
                         "quote": price_books.quote_spec(store, spec).public()})


@api.post("/designs/{design_id}/renders", status_code=202)
def apirender(request: Request, design_id: str, body: RenderIn):
    """Queue a round of concepts; an instruction may also revise the spec."""
    made = rounds.new_round(store_of(request), design_id, instruction=body.instruction,
                            parent_image_id=body.parent_image_id, reference_id=body.reference_id, mask_id=body.mask_id,
                            count=body.count, strength=body.strength, max_waiting=request.app.state.settings.max_queued_per_design)
    return {"job": {"id": made.job.id, "status": made.job.status}, "changes": made.changes,
            "spec": made.design.spec.model_dump(), "spec_revision": made.design.spec_revision,
            "quote": price_books.quote_spec(store_of(request), made.design.spec).public()}


async def _upload(request: Request, design_id: str, kind: str, file: UploadFile) -> dict:
    data = await file.read(uploads.MAX_BYTES + 1)
    upload = uploads.accept(store_of(request), request.app.state.settings.uploads_dir, design_id, kind, data)
    return {"id": upload.id, "kind": upload.kind, "width": upload.width, "height": upload.height}


@api.post("/designs/{design_id}/references", status_code=201)
async def api_reference(request: Request, design_id: str, file: UploadFile = File(...)):
    """A reference photo (PNG, JPEG or WebP, up to 10 MB) to start a round from."""
    return await _upload(request, design_id, "reference", file)


@api.post("/designs/{design_id}/masks", status_code=201)
async def api_mask(request: Request, design_id: str, file: UploadFile = File(...)):
    """A mask painted over a concept (white = redraw), for a region edit."""
    return await _upload(request, design_id, "mask", file)


@api.get("/jobs/{job_id}")
def api_job(request: Request, job_id: str):
    """Status, progress, queue position, and the images once done."""
    store = store_of(request)
    return _job_json(store, jobs.get_job(store, job_id))


@api.delete("/jobs/{job_id}")
def api_cancel_job(request: Request, job_id: str):
    """Cancel a queued job at once or a running one at its next step."""
    store = store_of(request)
    return _job_json(store, jobs.cancel(store, job_id))


@api.post("/designs/{design_id}/order", status_code=201)
def api_order(request: Request, design_id: str, body: OrderIn,
              idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=orders.MAX_IDEMPOTENCY_KEY)):
    """Place the order for the spec revision the customer was shown (409 when the design or
    its price has moved on); the token is the customer's private link to follow it. A repeat
    with the same Idempotency-Key returns the first order."""
    store = store_of(request)
    contact = orders.check_contact(body.name, body.email, body.phone, body.notes)
    order = orders.place_order(store, design_id, body.image_id, contact, spec_revision=body.spec_revision,
                               shown_total=body.quote_total, idempotency_key=idempotency_key,
                               notices=notices_of(request))
    mail_queued(request)
    view = orders.public_view(order)
    return {"number": view["number"], "token": order["token"], "status": view["status"], "quote": view["quote"],
            "url": f"/o/{order['token']}"}
