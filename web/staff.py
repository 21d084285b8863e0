"""The staff app: login, the order inbox and order pages (HTMX), and the /api/v1 staff
routes. Every route but login needs a session; every non-GET also needs the session's
CSRF token (X-CSRF-Token header, or the csrf_token form field for plain forms)."""

from __future__ import annotations

import logging
import math
import secrets
from datetime import date
from urllib.parse import quote_plus

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from appliance.errors import Conflict, Invalid
from appliance.jewelry.specs import Spec
from appliance.ops import auth, health, mail, people
from appliance.reader.facts import current_facts
from appliance.studio import attachments, designs, jobs, orders, price_books, production, uploads
from web.responses import is_htmx, mail_queued, notices_of, picture, render, store_of

log = logging.getLogger(__name__)

# Everything the staff app serves that needs a login lives under /staff, and its cookies
# carry Path=/staff: a browser never sends them to the customer app on the same host name
# (cookies are told apart by host and path, never by port). Each name starts with
# diamra_staff_, with the __Secure- prefix added when the store serves HTTPS, so the
# browser refuses one set over plain HTTP.
PREFIX = "/staff"
pages = APIRouter(prefix=PREFIX, include_in_schema=False)
api = APIRouter(prefix=PREFIX + "/api/v1", tags=["staff"])

SESSION_COOKIE = "diamra_staff_session"
CSRF_COOKIE = "diamra_staff_csrf"
LOGIN_COOKIE = "diamra_staff_login"


def cookie_name(request: Request, name: str) -> str:
    """The cookie's name as this request sets it: __Secure- prefixed over HTTPS."""
    return f"__Secure-{name}" if secure_cookies(request) else name


def read_cookie(request: Request, name: str) -> str | None:
    return request.cookies.get(f"__Secure-{name}") or request.cookies.get(name)


def _set_cookie(request: Request, response, name: str, value: str, max_age: int | None = None) -> None:
    # The CSRF token is HttpOnly too: pages carry it in their markup and the JSON login
    # answers it in the body, so no script ever needs to read a staff cookie.
    response.set_cookie(cookie_name(request, name), value, max_age=max_age, path=PREFIX, httponly=True,
                        samesite="strict", secure=secure_cookies(request))


def _delete_cookie(request: Request, response, name: str) -> None:
    response.delete_cookie(cookie_name(request, name), path=PREFIX, httponly=True, samesite="strict",
                           secure=secure_cookies(request))


def staff_user(request: Request) -> dict:
    """The logged-in staff member; 401 for the API, a redirect to /login for pages."""
    user = auth.session_user(store_of(request), read_cookie(request, SESSION_COOKIE))
    if user is None:
        if request.url.path.startswith(api.prefix):
            raise HTTPException(401, f"Log in first (POST {api.prefix}/session).")
        raise HTTPException(303, "Log in first.", headers={"Location": f"{PREFIX}/login"})
    return user


async def staff_writer(request: Request, user: dict = Depends(staff_user)) -> dict:
    """A logged-in staff member whose request carries the session's CSRF token."""
    given = request.headers.get("X-CSRF-Token")
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        given = (await request.form()).get("csrf_token")
    if not auth.csrf_matches(user["csrf_token"], given):
        raise HTTPException(403, "Missing or wrong CSRF token; reload the page and try again.")
    return user


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure when the store says so or the request reached its proxy over HTTPS."""
    return request.app.state.settings.secure_cookies or request.state.scheme == "https"


def _set_session_cookies(request: Request, response, token: str, csrf: str) -> None:
    max_age = request.app.state.settings.session_hours * 3600
    _set_cookie(request, response, SESSION_COOKIE, token, max_age)
    _set_cookie(request, response, CSRF_COOKIE, csrf, max_age)


def _clear_session_cookies(request: Request, response) -> None:
    _delete_cookie(request, response, SESSION_COOKIE)
    _delete_cookie(request, response, CSRF_COOKIE)


def _login_wait(request: Request, username: str) -> int:
    """Whole seconds this address or account must still wait before trying again."""
    wait = request.app.state.login_throttle.wait_seconds(request.state.client_ip, username)
    if wait:
        log.warning("login refused for %r from %s: throttled for %.0f s", username[:40], request.state.client_ip, wait)
    return math.ceil(wait)


def _authenticate(request: Request, username: str, password: str) -> dict | None:
    """Check the password, counting failures per address and per account."""
    throttle = request.app.state.login_throttle
    user = auth.authenticate(store_of(request), username, password)
    if user is None:
        throttle.failed(request.state.client_ip, username)
        log.warning("failed login for %r from %s", username[:40], request.state.client_ip)
    else:
        throttle.succeeded(request.state.client_ip, username)
    return user


# ---------------------------------------------------------------- pages

@pages.get("/login")
def login_page(request: Request):
    nonce = secrets.token_urlsafe(24)
    response = render(request, "staff/login.html", {"csrf": nonce, "error": None, "username": ""})
    _set_cookie(request, response, LOGIN_COOKIE, nonce)
    return response


@pages.post("/login")
async def login(request: Request):
    form = await request.form()
    username, password = str(form.get("username") or ""), str(form.get("password") or "")
    if not auth.csrf_matches(read_cookie(request, LOGIN_COOKIE), str(form.get("csrf_token") or "")):
        error = "The login form expired; please try again."
        user = None
    elif wait := _login_wait(request, username):
        error = f"Too many failed logins; please wait {wait} seconds."
        user = None
    else:
        user = _authenticate(request, username, password)
        error = None if user else "Wrong username or password."
    if user is None:
        nonce = secrets.token_urlsafe(24)
        response = render(request, "staff/login.html", {"csrf": nonce, "error": error, "username": username},
                           status_code=429 if error.startswith("Too many") else 401)
        _set_cookie(request, response, LOGIN_COOKIE, nonce)
        return response
    token, csrf = auth.start_session(store_of(request), user["id"], request.app.state.settings.session_hours)
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    _set_session_cookies(request, response, token, csrf)
    _delete_cookie(request, response, LOGIN_COOKIE)
    return response


@pages.post("/logout")
def logout(request: Request, user: dict = Depends(staff_writer)):
    auth.end_session(store_of(request), read_cookie(request, SESSION_COOKIE))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    _clear_session_cookies(request, response)
    return response


def _inbox_context(request: Request, user: dict, status: str | None, q: str | None, sort: str) -> dict:
    store = store_of(request)
    status = status or None
    rows = orders.list_orders(store, status, query=q, sort=sort or "newest")
    for row in rows:
        row["overdue"] = production.is_overdue(row)
    query = "&".join(f"{k}={quote_plus(v)}" for k, v in (("status", status), ("q", q), ("sort", sort)) if v)
    return {"user": user, "orders": rows, "status": status, "q": q or "", "sort": sort or "newest",
            "sorts": {"newest": "Newest first", "oldest": "Oldest first", "updated": "Recently active",
                      "number": "Order number"},
            "counts": orders.status_counts(store), "statuses": orders.STATUS_LABELS, "query": query,
            "unread": sum(1 for r in rows if r["unread"])}


@pages.get("/")
def inbox(request: Request, status: str | None = None, q: str | None = Query(None, max_length=100),
          sort: str = "newest", user: dict = Depends(staff_user)):
    context = _inbox_context(request, user, status, q, sort)
    context["health"] = health.check(request.app.state.settings, store_of(request))
    context["mail"] = mail.status(store_of(request), request.app.state.smtp)
    return render(request, "staff/inbox.html", context)


@pages.get("/orders.csv")
def orders_export(request: Request, status: str | None = None, q: str | None = Query(None, max_length=100),
                  sort: str = "newest", user: dict = Depends(staff_user)):
    """The orders the inbox shows (same filters), as CSV for the bookkeeping; cost and
    margin columns for admins."""
    rows = orders.list_orders(store_of(request), status or None, limit=100_000, query=q, sort=sort)
    body = orders.orders_csv(rows, with_cost=user["role"] == "admin")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="orders.csv"'})


@pages.get("/inbox-rows")
def inbox_rows(request: Request, status: str | None = None, q: str | None = Query(None, max_length=100),
               sort: str = "newest", user: dict = Depends(staff_user)):
    """The inbox's table alone: the page polls it, so new orders and messages appear
    without a reload."""
    return render(request, "staff/_inbox_rows.html", _inbox_context(request, user, status, q, sort))


@pages.post("/mail/retry")
def mail_retry(request: Request, user: dict = Depends(staff_writer)):
    """Try every failing mail again now (after the store fixed its mail settings, say)."""
    count = mail.retry_now(store_of(request))
    people.record(store_of(request), user["username"], "mail retried", None, f"{count} mails")
    mail_queued(request)
    return RedirectResponse(f"{PREFIX}/", status_code=303)


def _reading(store, order: dict) -> dict:
    """What the reader made of the customer's words: the design details the spec cannot
    hold, the words it could not place, and every fact it guessed or defaulted."""
    design = designs.get_design(store, order["design_id"])
    ordered = current_facts(Spec.model_validate(order["current"]["spec"]), design.facts)
    return {"details": design.details, "unplaced": design.unplaced,
            "guesses": [f.as_dict() for f in ordered if f.source in ("guessed", "default")]}


def _order_context(request: Request, number: int, user: dict, **extra) -> dict:
    store = store_of(request)
    order = orders.get_order(store, number=number)
    chosen = order["current"]["image_id"]
    return {"user": user, "order": order, "lineage": designs.lineage(store, chosen),
            "reading": _reading(store, order), "disagreements": orders.disagreements(store, order),
            "inputs": jobs.inputs_of(store, chosen),
            # Forward moves only, in the order of an order's life; cancelling is its own form.
            "next_statuses": [s for s in orders.LIFE_ORDER if s in orders.TRANSITIONS[order["status"]]
                              and s not in ("accepted", "changes_requested", "declined", "cancelled")],
            "can_cancel": "cancelled" in orders.TRANSITIONS[order["status"]],
            "undo_until": orders.cancel_undo_deadline(order) if user["role"] == "admin" else None,
            "others": orders.other_orders(store, order),
            "attachments": attachments.of_order(store, number), "attachment_kinds": attachments.KINDS,
            "stages": production.enabled_stages(request.app.state.settings.production_stages),
            "deposit_methods": production.DEPOSIT_METHODS, "overdue": production.is_overdue(order),
            "staff_names": auth.staff_names(store), "today": date.today().isoformat(),
            "statuses": orders.STATUS_LABELS, "action_error": None, **extra}


@pages.get("/orders/{number}")
def order_page(request: Request, number: int, user: dict = Depends(staff_user)):
    context = _order_context(request, number, user)
    orders.mark_seen(store_of(request), number)
    return render(request, "staff/order.html", context)


@pages.post("/orders/{number}/{action}")
async def order_action(request: Request, number: int, action: str, user: dict = Depends(staff_writer)):
    form = await request.form()
    text = str(form.get("body") or "")
    error = None
    try:
        if action in ("cancel", "undo-cancel") and form.get("confirm") != "yes":
            raise Invalid("confirm", "Tick the box to confirm: the customer is told at once.")
        _apply_action(request, number, action, text, str(form.get("status") or ""), user)
    except (Invalid, Conflict) as exc:
        error = getattr(exc, "message", str(exc))
    if not is_htmx(request):
        if error:
            return render(request, "staff/order.html", _order_context(request, number, user, action_error=error),
                           status_code=422)
        return RedirectResponse(f"{PREFIX}/orders/{number}", status_code=303)
    context = _order_context(request, number, user, action_error=error, draft=text if error else "")
    return render(request, "staff/_order_panel.html", context, status_code=422 if error else 200)


def _apply_action(request: Request, number: int, action: str, text: str, status: str, user: dict) -> dict:
    """One of the jeweler's actions on an order; the customer's mail, when there is one,
    is queued with it and sent right after."""
    if action == "undo-cancel":
        if user["role"] != "admin":
            raise HTTPException(403, "Only an admin can undo a cancellation.")
        order = orders.undo_cancel(store_of(request), number, actor_name=user["username"], notices=notices_of(request))
        people.record(store_of(request), user["username"], "cancellation undone", f"order {number}")
        mail_queued(request)
        return order
    order = _do_action(store_of(request), notices_of(request), number, action, text, status, user["username"])
    mail_queued(request)
    return order


def _do_action(store, notices, number: int, action: str, text: str, status: str, name: str) -> dict:
    if action == "accept":
        return orders.transition(store, number, "accepted", actor_name=name, body=text, notices=notices)
    if action == "request-changes":
        return orders.transition(store, number, "changes_requested", actor_name=name, body=text,
                                 body_field="message", body_required=True, notices=notices)
    if action == "decline":
        return orders.transition(store, number, "declined", actor_name=name, body=text,
                                 body_field="reason", body_required=True, notices=notices)
    if action == "messages":
        return orders.add_message(store, number, text, actor="staff", actor_name=name, notices=notices)
    if action == "status":
        if status == "cancelled":
            raise Invalid("status", "Cancelling needs a reason and a confirmation: use Cancel order.")
        return orders.transition(store, number, status, actor_name=name, body=text, notices=notices)
    if action == "cancel":
        return orders.transition(store, number, "cancelled", actor_name=name, body=text, notices=notices)
    raise HTTPException(404, "No such action.")


@pages.get("/uploads/{upload_id}.png")
def upload_file(request: Request, upload_id: str, user: dict = Depends(staff_user)):
    """A customer's reference photo or painted mask, for the order page."""
    upload = uploads.get_upload(store_of(request), upload_id)
    return picture(request.app.state.settings.uploads_dir / upload.path, "image/png", "private, max-age=86400")


@pages.get("/images/{image_id}.png")
def image_file(request: Request, image_id: str, user: dict = Depends(staff_user)):
    image = designs.get_image(store_of(request), image_id)
    return picture(request.app.state.settings.images_dir / image.path, "image/png", "private, max-age=86400")


# ---------------------------------------------------------------- JSON API

class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(..., max_length=40)
    password: str = Field(..., max_length=1024)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=orders.MAX_MESSAGE)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(..., max_length=orders.MAX_MESSAGE)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., max_length=orders.MAX_MESSAGE)


class BodyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(..., max_length=orders.MAX_MESSAGE)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(..., max_length=40)
    note: str | None = Field(None, max_length=orders.MAX_MESSAGE)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., max_length=orders.MAX_MESSAGE)
    confirm: bool = False


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: bool = False


def _staff_order_json(order: dict, reading: dict | None = None) -> dict:
    view = orders.public_view(order)
    view.update({
        **({"reading": reading} if reading is not None else {}),
        "token_url": f"/o/{order['token']}",
        "customer": {"name": order["customer_name"], "email": order["email"], "phone": order["phone"],
                     "notes": order["notes"]},
        "quote": order["current"]["quote"],
        "description": order["current"]["description"],
        "spec": order["current"]["spec"],
        "versions": [{"version": v["version"], "image_id": v["image_id"], "created_at": v["created_at"],
                      "quote": v["quote"], "spec": v["spec"], "description": v["description"]}
                     for v in order["versions"]],
        "events": [{k: e[k] for k in ("kind", "from_status", "to_status", "body", "actor", "actor_name", "created_at")}
                   for e in order["events"]],
        "created_at": order["created_at"],
        "bench": {"stage": order["stage"], "due_date": order["due_date"], "assigned_to": order["assigned_to"],
                  "overdue": production.is_overdue(order),
                  "deposit": {"asked": order["current"]["quote"].get("deposit"), "received": order["deposit_received"],
                              "received_on": order["deposit_received_on"], "method": order["deposit_method"]}},
    })
    return view


@api.post("/session")
def api_login(request: Request, body: LoginIn):
    """Log in: sets the session cookie (Path=/staff) and answers the CSRF token to echo in
    X-CSRF-Token on every write."""
    if wait := _login_wait(request, body.username):
        raise HTTPException(429, f"Too many failed logins; please wait {wait} seconds.",
                            headers={"Retry-After": str(wait)})
    user = _authenticate(request, body.username, body.password)
    if user is None:
        raise HTTPException(401, "Wrong username or password.")
    token, csrf = auth.start_session(store_of(request), user["id"], request.app.state.settings.session_hours)
    response = JSONResponse({"username": user["username"], "role": user["role"], "csrf_token": csrf})
    _set_session_cookies(request, response, token, csrf)
    return response


@api.delete("/session")
def api_logout(request: Request, user: dict = Depends(staff_writer)):
    """Log out: the session is deleted on the server, so the cookie stops working."""
    auth.end_session(store_of(request), read_cookie(request, SESSION_COOKIE))
    response = JSONResponse({"logged_out": True})
    _clear_session_cookies(request, response)
    return response


@api.get("/orders")
def api_orders(request: Request, status: str | None = None, q: str | None = Query(None, max_length=100),
               sort: str = "newest", user: dict = Depends(staff_user)):
    """The inbox: `status` filters, `q` searches the number, name, e-mail, phone and words,
    `sort` is newest, oldest, updated or number; `unread` marks what the customer did that
    the desk has not opened; `counts` has every status."""
    store = store_of(request)
    rows = orders.list_orders(store, status, query=q, sort=sort)
    return {"counts": orders.status_counts(store),
            "orders": [{"number": r["number"], "status": r["status"], "customer_name": r["customer_name"],
                        "created_at": r["created_at"], "updated_at": r["updated_at"], "total": r["quote"]["total"],
                        "currency": r["quote"]["currency"], "image_url": f"{PREFIX}/images/{r['image_id']}.png",
                        "unread": r["unread"]}
                       for r in rows]}


@api.get("/health")
def api_health(request: Request, user: dict = Depends(staff_user)):
    """The appliance's health in detail: problems, warnings, database, worker and generator,
    queue, disk, last good backup (503 when it cannot serve customers)."""
    result = health.check(request.app.state.settings, store_of(request))
    body = {"ok": result.ok, "problems": result.problems, "warnings": result.warnings, **result.facts}
    return JSONResponse(body, status_code=200 if result.ok else 503)


@api.get("/mail")
def api_mail(request: Request, user: dict = Depends(staff_user)):
    """Whether the store sends mail, and every mail being retried or given up on, with the
    mail server's last answer."""
    state = mail.status(store_of(request), request.app.state.smtp)
    return {"on": state["on"], "retrying": state["retrying"], "failed": state["failed"],
            "mails": [{k: m[k] for k in ("id", "kind", "order_number", "to_address", "subject", "status", "attempts",
                                          "last_error", "next_attempt_at", "created_at")} for m in state["troubled"]]}


@api.post("/mail/retry")
def api_mail_retry(request: Request, user: dict = Depends(staff_writer)):
    """Put every failing or given-up mail back in the queue, to be sent now."""
    count = mail.retry_now(store_of(request))
    people.record(store_of(request), user["username"], "mail retried", None, f"{count} mails")
    mail_queued(request)
    return {"requeued": count}


@api.get("/orders/{number}")
def api_order(request: Request, number: int, user: dict = Depends(staff_user)):
    """One order with contact, cost and margin, versions and timeline."""
    store = store_of(request)
    order = orders.get_order(store, number=number)
    orders.mark_seen(store, number)
    view = _staff_order_json(order, _reading(store, order))
    view["disagreements"] = orders.disagreements(store, order)
    image = designs.get_image(store, order["current"]["image_id"])
    view["metal_check"] = {"verdict": image.metal_check, "reason": image.metal_check_reason}
    view["attachments"] = [attachment_json(a) for a in attachments.of_order(store, number)]
    view["inputs"] = {kind: f"{PREFIX}/uploads/{u.id}.png" for kind, u in jobs.inputs_of(store, order["current"]["image_id"]).items()}
    return view


@api.post("/orders/{number}/accept")
def api_accept(request: Request, number: int, body: NoteIn, user: dict = Depends(staff_writer)):
    return _staff_order_json(_apply_action(request, number, "accept", body.note or "", "", user))


@api.post("/orders/{number}/request-changes")
def api_request_changes(request: Request, number: int, body: MessageIn, user: dict = Depends(staff_writer)):
    return _staff_order_json(_apply_action(request, number, "request-changes", body.message, "", user))


@api.post("/orders/{number}/decline")
def api_decline(request: Request, number: int, body: ReasonIn, user: dict = Depends(staff_writer)):
    return _staff_order_json(_apply_action(request, number, "decline", body.reason, "", user))


@api.post("/orders/{number}/messages", status_code=201)
def api_message(request: Request, number: int, body: BodyIn, user: dict = Depends(staff_writer)):
    return _staff_order_json(_apply_action(request, number, "messages", body.body, "", user))


@api.post("/orders/{number}/status")
def api_status(request: Request, number: int, body: StatusIn, user: dict = Depends(staff_writer)):
    return _staff_order_json(_apply_action(request, number, "status", body.note or "", body.status, user))


@api.post("/orders/{number}/cancel")
def api_cancel(request: Request, number: int, body: CancelIn, user: dict = Depends(staff_writer)):
    """Cancel an order: a reason (the customer is told it) and `confirm: true`."""
    if not body.confirm:
        raise Invalid("confirm", "Cancelling tells the customer at once: send confirm: true with the reason.")
    return _staff_order_json(_apply_action(request, number, "cancel", body.reason, "", user))


@api.post("/orders/{number}/undo-cancel")
def api_undo_cancel(request: Request, number: int, body: ConfirmIn, user: dict = Depends(staff_writer)):
    """An admin puts an order cancelled by mistake back where it was, within a day."""
    if not body.confirm:
        raise Invalid("confirm", "Undoing a cancellation tells the customer: send confirm: true.")
    return _staff_order_json(_apply_action(request, number, "undo-cancel", "", "", user))


def attachment_json(a) -> dict:
    return {"id": a.id, "kind": a.kind, "filename": a.filename, "media_type": a.media_type, "size_bytes": a.size_bytes,
            "shown_to_customer": a.shown_to_customer, "note": a.note, "approved_at": a.approved_at,
            "created_by": a.created_by, "created_at": a.created_at, "url": f"{PREFIX}/attachments/{a.id}"}


@api.get("/price-book")
def api_price_book(request: Request, user: dict = Depends(staff_user)):
    """The current price book and its version."""
    book = price_books.current(store_of(request))
    return {"version": book.version, "created_at": book.created_at, "created_by": book.created_by, "book": book.book}


@api.put("/price-book")
def api_put_price_book(request: Request, body: dict, user: dict = Depends(staff_writer)):
    """Save a new price-book version; a bad entry gets 422 naming it."""
    if user["role"] != "admin":
        raise HTTPException(403, "Only an admin can change the price book.")
    book = price_books.save(store_of(request), body.get("book", body), created_by=user["username"])
    people.record(store_of(request), user["username"], "price book saved", f"version {book.version}")
    return {"version": book.version, "created_at": book.created_at, "created_by": book.created_by, "book": book.book}
