"""The customer's version tree on the studio page and in the JSON API: go back to any
concept (its materials become the design's again), undo one step, compare two concepts
side by side, and the photo a round started from. Branching is a round asked for from
any chosen concept (web.customer's refine and "more like this")."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from appliance.errors import Conflict, Invalid, NotFound
from appliance.studio import designs, price_books, uploads, versions
from web.customer import _design_context, _design_json
from web.responses import is_htmx, picture, render, store_of

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["customer"])


def _gallery(request: Request, design: designs.Design, status_code: int = 200, **extra):
    if not is_htmx(request):
        return RedirectResponse(f"/d/{design.id}", status_code=303)
    return render(request, "customer/_gallery.html",
                  _design_context(request, design, oob_chosen=True, oob_materials=True, **extra),
                  status_code=status_code)


@pages.post("/d/{design_id}/back")
async def go_back(request: Request, design_id: str):
    """Choose a concept and make the materials it was drawn from the design's again."""
    form = await request.form()
    store = store_of(request)
    design = designs.get_design(store, design_id)
    try:
        design = versions.go_back(store, design_id, str(form.get("image_id", "")))
    except Invalid as exc:
        return _gallery(request, design, 422, tree_message=exc.message, tree_error=True)
    images = designs.images(store, design_id)
    chosen = next(i for i in images if i.id == design.selected_image_id)
    return _gallery(request, design, tree_message=f"Back to round {chosen.round}, concept "
                    f"{versions.concept_number(chosen, images)}: its materials and price are yours again.")


@pages.post("/d/{design_id}/undo")
def undo(request: Request, design_id: str):
    store = store_of(request)
    try:
        undone = versions.undo(store, design_id)
    except Conflict as exc:
        return _gallery(request, designs.get_design(store, design_id), 409, tree_message=str(exc),
                        tree_error=True)
    return _gallery(request, undone.design, tree_message=undone.what)


def _side_view(store, side: versions.Side) -> dict:
    return {"image": side.image, "label": side.label, "spec": side.spec, "materials": side.spec.materials(),
            "quote": price_books.quote_spec(store, side.spec).public()}


@pages.get("/d/{design_id}/compare")
def compare_page(request: Request, design_id: str, a: str = "", b: str = ""):
    """Two concepts side by side: pictures, materials, prices, and what differs."""
    store = store_of(request)
    design = designs.get_design(store, design_id)
    images = designs.images(store, design_id)
    first, second, differences = versions.compare(store, design_id, a, b)
    return render(request, "customer/compare.html", {
        "design": design, "sides": [_side_view(store, first), _side_view(store, second)],
        "differences": differences, "images": images,
        "numbers": versions.concept_numbers(images),
        "selected": designs.chosen_image_id(design, images)})


@pages.get("/d/{design_id}/photos/{upload_id}.png")
def reference_photo(request: Request, design_id: str, upload_id: str):
    """The customer's reference photo, shown beside the round drawn from it."""
    upload = uploads.get_upload(store_of(request), upload_id)
    if upload.design_id != design_id or upload.kind != "reference":
        raise NotFound("No photo with that id in this design.")
    return picture(request.app.state.settings.uploads_dir / upload.path, "image/png",
                   "private, max-age=31536000, immutable")


# ---------------------------------------------------------------- JSON API

class GoBackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: str = Field(..., max_length=64)


def _round_json(node: versions.Round, images: list[designs.Image]) -> dict:
    return {"round": node.number, "instruction": node.instruction,
            "parent_image_id": node.parent.id if node.parent else None,
            "parent_label": f"Round {node.parent.round}, concept {versions.concept_number(node.parent, images)}"
            if node.parent else None,
            "reference_id": node.reference_id, "strength": node.strength, "region_edit": node.region_edit,
            "spec_revision": node.spec_revision,
            "images": [{"id": i.id, "url": i.url, "seed": i.seed, "label": i.label} for i in node.images]}


@api.get("/designs/{design_id}/tree")
def api_tree(request: Request, design_id: str):
    """Every round, newest first: what it started from (a concept or a photo), the words
    and strength that asked for it, the spec revision it drew, and its concepts."""
    store = store_of(request)
    designs.get_design(store, design_id)
    images = designs.images(store, design_id)
    return {"rounds": [_round_json(node, images) for node in versions.tree(store, design_id, images)]}


@api.post("/designs/{design_id}/go-back")
def api_go_back(request: Request, design_id: str, body: GoBackIn):
    """Choose a concept and make the materials it was drawn from the design's again
    (ring size and lengths stay as the customer set them)."""
    store = store_of(request)
    return _design_json(store, versions.go_back(store, design_id, body.image_id))


@api.post("/designs/{design_id}/undo")
def api_undo(request: Request, design_id: str):
    """One step back (409 when the design is where it began)."""
    store = store_of(request)
    undone = versions.undo(store, design_id)
    return {**_design_json(store, undone.design), "undone": undone.what}


@api.get("/designs/{design_id}/compare")
def api_compare(request: Request, design_id: str, a: str = Query(..., max_length=64),
                b: str = Query(..., max_length=64)):
    """Two concepts with the materials and price each shows, and what differs."""
    store = store_of(request)
    designs.get_design(store, design_id)
    first, second, differences = versions.compare(store, design_id, a, b)
    return {"sides": [{"image_id": s.image.id, "url": s.image.url, "label": s.label, "spec": s.spec.model_dump(),
                       "quote": price_books.quote_spec(store, s.spec).public()} for s in (first, second)],
            "differences": differences}
