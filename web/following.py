"""The customer following an order: its private page and JSON, messages, a revision
after a change request, the files the jeweler shared (and approving a CAD render), the
quote to print, and "find my order"."""

from __future__ import annotations

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from appliance.errors import Invalid
from appliance.studio import attachments, designs, orders
from web.responses import attachment_response, is_htmx, mail_queued, notices_of, render, store_of

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["customer"])


class TooMany(Exception):
    """Asked too often; the message says how long to wait."""


FIND_ANSWER = ("If there are orders placed with that address, a mail with their private links is on its way "
               "to it. It can take a few minutes; check your spam folder too.")
FIND_MAIL_OFF = ("This store does not send e-mail, so we cannot send your links. Please contact the store: they "
                 "can find your order by your name or e-mail address.")


def _find_orders(request: Request, email: str) -> str:
    """Queue the links of this address's orders; the answer is the same whether or not it
    has any (no one learns from it who ordered). Limited per connection (a paired kiosk,
    whose customers all share its address, by the kiosk, with a larger allowance) and per
    address."""
    limits = request.app.state.find_limits
    address = orders.check_email(email)
    kiosk = getattr(request.state, "kiosk", None)
    asker = limits["kiosk"].allow(f"kiosk:{kiosk.id}") if kiosk else limits["client"].allow(request.state.client_ip)
    if not (asker and limits["address"].allow(address.lower())):
        raise TooMany("You asked for your links several times already; please wait an hour, or contact the store.")
    mail_on = orders.send_order_links(store_of(request), address, notices_of(request))
    mail_queued(request)
    return FIND_ANSWER if mail_on else FIND_MAIL_OFF


@pages.get("/find")
def find_page(request: Request):
    return render(request, "customer/find.html", {"email": "", "error": None, "answer": None})


@pages.post("/find")
async def find_orders_page(request: Request):
    form = await request.form()
    email = str(form.get("email", ""))[:300]
    try:
        answer = _find_orders(request, email)
    except Invalid as exc:
        return render(request, "customer/find.html", {"email": email, "error": exc.message, "answer": None},
                      status_code=422)
    except TooMany as exc:
        return render(request, "customer/find.html", {"email": email, "error": str(exc), "answer": None},
                      status_code=429)
    return render(request, "customer/find.html", {"email": "", "error": None, "answer": answer})


def _order_context(request: Request, token: str, **extra) -> dict:
    store = store_of(request)
    order = orders.get_order(store, token=token)
    view = _public_order(store, token)
    return {"order": view, "token": token, "placed": request.query_params.get("placed") == "1",
            "description": order["current"]["description"], "message_error": None, "message": "", **extra}


@pages.get("/o/{token}")
def order_page(request: Request, token: str):
    return render(request, "customer/order.html", _order_context(request, token))


@pages.post("/o/{token}/messages")
async def order_message(request: Request, token: str):
    form = await request.form()
    store = store_of(request)
    order = orders.get_order(store, token=token)
    body = str(form.get("body", ""))
    try:
        orders.add_message(store, order["number"], body, actor="customer", actor_name=order["customer_name"],
                           notices=notices_of(request))
        mail_queued(request)
    except Invalid as exc:
        template = "customer/_timeline.html" if is_htmx(request) else "customer/order.html"
        return render(request, template, _order_context(request, token, message_error=exc.message, message=body),
                       status_code=422)
    if not is_htmx(request):
        return RedirectResponse(f"/o/{token}", status_code=303)
    return render(request, "customer/_timeline.html", _order_context(request, token))


def _public_order(store, token: str) -> dict:
    """The order as its customer sees it, with the files the jeweler shared."""
    order = orders.get_order(store, token=token)
    view = orders.public_view(order)
    view["attachments"] = [
        {"id": a.id, "kind": a.kind, "filename": a.filename, "media_type": a.media_type, "note": a.note,
         "url": f"/o/{token}/attachments/{a.id}", "awaits_approval": a.awaits_approval, "approved_at": a.approved_at,
         "created_at": a.created_at}
        for a in attachments.of_order(store, order["number"], customer_view=True)]
    return view


@pages.get("/o/{token}/quote")
def order_quote(request: Request, token: str):
    """The order's quote as a page to print or save as PDF, with a QR code of its link."""
    context = _order_context(request, token)
    link = f"{notices_of(request).public_url or str(request.base_url).rstrip('/')}/o/{token}"
    context["qr"] = segno.make(link, error="m").svg_inline(scale=3, dark="#000", light="#fff")
    context["budget"] = None
    return render(request, "customer/quote_print.html", context)


@pages.get("/o/{token}/attachments/{attachment_id}")
def order_attachment(request: Request, token: str, attachment_id: str):
    """A file the jeweler shared on this order."""
    attachment = attachments.for_customer(store_of(request), token, attachment_id)
    return attachment_response(request.app.state.settings.attachments_dir, attachment)


@pages.post("/o/{token}/attachments/{attachment_id}/approve")
def approve_attachment_page(request: Request, token: str, attachment_id: str):
    attachments.approve(store_of(request), token, attachment_id, notices=notices_of(request))
    mail_queued(request)
    return RedirectResponse(f"/o/{token}", status_code=303)


@pages.post("/o/{token}/revision")
async def order_revision(request: Request, token: str):
    form = await request.form()
    store = store_of(request)
    order = orders.get_order(store, token=token)
    design = designs.get_design(store, order["design_id"])
    image_id = str(form.get("image_id", "")) or designs.chosen_image_id(design, designs.images(store, design.id)) or ""
    orders.resubmit(store, token, image_id, note=str(form.get("note", "")), notices=notices_of(request))
    mail_queued(request)
    return RedirectResponse(f"/o/{token}", status_code=303)


class FindIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(..., max_length=300)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(..., max_length=orders.MAX_MESSAGE)


class RevisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: str = Field(..., max_length=64)
    note: str | None = Field(None, max_length=orders.MAX_MESSAGE)


@api.post("/orders/lookup", status_code=202)
def api_find_orders(request: Request, body: FindIn):
    """"Find my order": mail the links of every order placed with this address. The answer
    is the same whether or not there are any; 429 after a few asks an hour."""
    try:
        return {"detail": _find_orders(request, body.email)}
    except TooMany as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "3600"}) from None


@api.get("/orders/{token}")
def api_order_status(request: Request, token: str):
    """The order as its customer sees it: status, quote, image and conversation."""
    return _public_order(store_of(request), token)


@api.post("/orders/{token}/messages", status_code=201)
def api_order_message(request: Request, token: str, body: MessageIn):
    """Reply to the jeweler."""
    store = store_of(request)
    order = orders.get_order(store, token=token)
    orders.add_message(store, order["number"], body.body, actor="customer", actor_name=order["customer_name"],
                       notices=notices_of(request))
    mail_queued(request)
    return _public_order(store, token)


@api.post("/orders/{token}/attachments/{attachment_id}/approve")
def api_approve_attachment(request: Request, token: str, attachment_id: str):
    """Approve the CAD render the jeweler shared (comments go as messages)."""
    attachments.approve(store_of(request), token, attachment_id, notices=notices_of(request))
    mail_queued(request)
    return _public_order(store_of(request), token)


@api.post("/orders/{token}/revision", status_code=201)
def api_order_revision(request: Request, token: str, body: RevisionIn):
    """After a change request: submit the revised design as the order's next version."""
    store = store_of(request)
    orders.resubmit(store, token, body.image_id, note=body.note, notices=notices_of(request))
    mail_queued(request)
    return _public_order(store, token)
