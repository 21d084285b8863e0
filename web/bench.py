"""The bench's side of an order on the staff app: the production stage, the plan (due
date and jeweler), the deposit received, files from the bench, and the printable work
order."""

from __future__ import annotations

import segno
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from appliance.errors import Conflict, Invalid
from appliance.jewelry import catalog, ring_sizes
from appliance.jewelry.specs import Spec
from appliance.studio import attachments, orders, production
from web.responses import attachment_response, is_htmx, mail_queued, notices_of, render, store_of
from web.staff import (PREFIX, _order_context, _reading, _staff_order_json, attachment_json, staff_user,
                       staff_writer)

# Included before the staff pages: /orders/{number}/attachments must not be taken for an
# action of /orders/{number}/{action}.
pages = APIRouter(prefix=PREFIX, include_in_schema=False)
api = APIRouter(prefix=PREFIX + "/api/v1", tags=["staff"])


async def _attach(request: Request, number: int, form, user: dict):
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise Invalid("file", "Choose a photo, a CAD render or a PDF to attach.")
    data = await upload.read(attachments.MAX_BYTES + 1)
    shown = str(form.get("shown_to_customer") or "").lower() in ("yes", "true", "1", "on")
    made = attachments.attach(store_of(request), request.app.state.settings.attachments_dir, number, data,
                              filename=upload.filename, kind=str(form.get("kind") or ""), shown_to_customer=shown,
                              note=str(form.get("note") or ""), actor_name=user["username"],
                              notices=notices_of(request))
    mail_queued(request)
    return made


@pages.post("/orders/{number}/attachments")
async def attach_page(request: Request, number: int, user: dict = Depends(staff_writer)):
    """Attach a photo, a CAD render or a PDF from the bench to the order's timeline."""
    form = await request.form()
    try:
        await _attach(request, number, form, user)
    except (Invalid, Conflict) as exc:
        return render(request, "staff/order.html",
                      _order_context(request, number, user, attach_error=getattr(exc, "message", str(exc))),
                      status_code=422)
    return RedirectResponse(f"{PREFIX}/orders/{number}", status_code=303)


BENCH_FORMS = {
    "stage": lambda store, n, form, name, stages: production.set_stage(
        store, n, str(form.get("stage") or ""), stages=stages, actor_name=name),
    "plan": lambda store, n, form, name, stages: production.plan(
        store, n, str(form.get("due_date") or ""), str(form.get("assigned_to") or ""), actor_name=name),
    "deposit": lambda store, n, form, name, stages: production.record_deposit(
        store, n, str(form.get("amount") or ""), str(form.get("received_on") or ""), str(form.get("method") or ""),
        actor_name=name),
}


@pages.post("/orders/{number}/bench/{what}")
async def bench_action(request: Request, number: int, what: str, user: dict = Depends(staff_writer)):
    """The bench card: the stage, the due date and jeweler, the deposit received."""
    if what not in BENCH_FORMS:
        raise HTTPException(404, "No such form.")
    form = await request.form()
    error = None
    try:
        BENCH_FORMS[what](store_of(request), number, form, user["username"],
                          production.enabled_stages(request.app.state.settings.production_stages))
    except (Invalid, Conflict) as exc:
        error = getattr(exc, "message", str(exc))
    if not is_htmx(request) and not error:
        return RedirectResponse(f"{PREFIX}/orders/{number}", status_code=303)
    return render(request, "staff/order.html", _order_context(request, number, user, bench_error=error),
                  status_code=422 if error else 200)


@pages.get("/attachments/{attachment_id}")
def attachment_file(request: Request, attachment_id: str, user: dict = Depends(staff_user)):
    attachment = attachments.get_attachment(store_of(request), attachment_id)
    return attachment_response(request.app.state.settings.attachments_dir, attachment)


@pages.get("/orders/{number}/work-order")
def work_order(request: Request, number: int, user: dict = Depends(staff_user)):
    """The job envelope for the bench: printable on one page, with a QR code of the number."""
    store = store_of(request)
    order = orders.get_order(store, number=number)
    spec = Spec.model_validate(order["current"]["spec"])
    qr = segno.make(f"DIAMRA-ORDER-{number}", error="m").svg_inline(scale=4, dark="#000", light="#fff")
    ring = None
    if spec.piece_type == "ring" and spec.ring_size is not None:
        ring = {"us": ring_sizes.from_us("us", spec.ring_size), "system": spec.size_system,
                "label": ring_sizes.from_us(spec.size_system, spec.ring_size)}
    metal_lines = [line for line in order["current"]["quote"]["lines"] if line["kind"] == "metal"]
    return render(request, "staff/work_order.html", {
        "user": user, "order": order, "spec": spec, "qr": qr, "ring": ring, "metal_lines": metal_lines,
        "stone_rows": [s.model_dump() | {"carat_each": s.carat_each} for s in spec.stones],
        "metal_label": catalog.METALS[spec.metal].label, "overdue": production.is_overdue(order),
        "reading": _reading(store, order)})


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: str = Field(..., max_length=40)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    due_date: str | None = Field(None, max_length=20)
    assigned_to: str | None = Field(None, max_length=120)


class DepositIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: str = Field(..., max_length=30)
    received_on: str = Field(..., max_length=20)
    method: str = Field(..., max_length=30)


@api.post("/orders/{number}/stage")
def api_stage(request: Request, number: int, body: StageIn, user: dict = Depends(staff_writer)):
    """Move an order in production to one of the store's stages (production_stages)."""
    return _staff_order_json(BENCH_FORMS["stage"](store_of(request), number, body.model_dump(), user["username"],
                                                  production.enabled_stages(request.app.state.settings.production_stages)))


@api.post("/orders/{number}/plan")
def api_plan(request: Request, number: int, body: PlanIn, user: dict = Depends(staff_writer)):
    """Set or clear the due date and the jeweler the order is assigned to."""
    return _staff_order_json(BENCH_FORMS["plan"](store_of(request), number, body.model_dump(), user["username"], {}))


@api.post("/orders/{number}/deposit")
def api_deposit(request: Request, number: int, body: DepositIn, user: dict = Depends(staff_writer)):
    """Record the deposit received: amount, day (YYYY-MM-DD) and method (cash, card,
    bank_transfer, other). Nothing is charged."""
    return _staff_order_json(BENCH_FORMS["deposit"](store_of(request), number, body.model_dump(), user["username"], {}))


@api.post("/orders/{number}/attachments", status_code=201)
async def api_attach(request: Request, number: int, user: dict = Depends(staff_writer)):
    """Attach a file from the bench (multipart: `file`; `kind` photo or cad for a picture,
    a PDF is recognised; `note`; `shown_to_customer` yes/no). A CAD render shown to the
    customer waits for their approval."""
    form = await request.form()
    return attachment_json(await _attach(request, number, form, user))


