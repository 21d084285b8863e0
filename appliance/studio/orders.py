"""Orders: placing one from a design, the status state machine, and the timeline of
events (every transition and every message, with who and when).

The customer follows an order through its unguessable token; staff address it by number.
Each version of an order keeps an immutable snapshot of its image, spec and quote.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from email_validator import EmailNotValidError, validate_email

from appliance.errors import Conflict, Invalid, NotFound
from appliance.jewelry import catalog
from appliance.jewelry.pricing import Quote
from appliance.jewelry.specs import Spec
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio import notices as notice
from appliance.studio.designs import Design, get_design, get_image, shown
from appliance.studio.notices import Notices
from appliance.studio.price_books import quote_spec

log = logging.getLogger(__name__)

STATUS_LABELS = {
    "submitted": "Received — waiting for the jeweler",
    "accepted": "Accepted",
    "changes_requested": "Changes requested",
    "declined": "Declined",
    "in_production": "In production",
    "ready": "Ready for pickup",
    "completed": "Completed",
    "cancelled": "Cancelled",
}

# Who may move an order from one status to another. Resubmission after a change request
# is the customer's own action (`resubmit`), not a staff transition.
TRANSITIONS: dict[str, set[str]] = {
    "submitted": {"accepted", "changes_requested", "declined", "cancelled"},
    "changes_requested": {"cancelled"},
    "accepted": {"in_production", "cancelled"},
    "in_production": {"ready", "cancelled"},
    "ready": {"completed", "cancelled"},
    "declined": set(),
    "completed": set(),
    "cancelled": set(),
}
OPEN_STATUSES = {s for s, targets in TRANSITIONS.items() if targets}
# The order of an order's life, for lists a jeweler picks from (cancelling is its own,
# confirmed action, never the first choice of a list).
LIFE_ORDER = ["submitted", "changes_requested", "accepted", "in_production", "ready", "completed", "declined",
              "cancelled"]
# An accidental cancellation can be undone by an admin for this long.
UNDO_CANCEL_HOURS = 24

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^[0-9+()./ -]{5,40}$")
MAX_MESSAGE = 4000


@dataclass
class Contact:
    name: str
    email: str
    phone: str | None = None
    notes: str | None = None


def check_contact(name: str | None, email: str | None, phone: str | None, notes: str | None) -> Contact:
    """Validated contact details, or Invalid naming the first field to fix."""
    name = (name or "").strip()
    email = (email or "").strip()
    phone = (phone or "").strip() or None
    notes = (notes or "").strip() or None
    if not name:
        raise Invalid("name", "Please tell us your name.")
    if len(name) > 120:
        raise Invalid("name", "Please keep the name under 120 characters.")
    if not email:
        raise Invalid("email", "Please give an e-mail address so the jeweler can reach you.")
    email = check_email(email)
    if phone and not _PHONE.match(phone):
        raise Invalid("phone", "A phone number has digits, spaces and + ( ) - only.")
    if notes and len(notes) > 2000:
        raise Invalid("notes", "Please keep the notes under 2000 characters.")
    return Contact(name, email, phone, notes)


def check_email(email: str | None) -> str:
    """A normalised e-mail address, or Invalid naming the field."""
    email = (email or "").strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise Invalid("email", "That does not look like an e-mail address (name@example.com).")
    try:
        # The kept validator (RFC 5321/5322 syntax, no network): 'a@b.co?bcc=...' is no address.
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        raise Invalid("email", "That does not look like an e-mail address (name@example.com).") from None


def _check_image(store: Store, design: Design, image_id: str) -> None:
    try:
        image = get_image(store, image_id)
    except NotFound:
        raise Invalid("image_id", "Pick one of the concept images for your order.") from None
    if image.design_id != design.id:
        raise Invalid("image_id", "That image belongs to another design.")


MAX_IDEMPOTENCY_KEY = 200


def check_idempotency_key(key: str | None) -> str | None:
    """The key trimmed (None when absent), or Invalid when it cannot be one."""
    key = (key or "").strip() or None
    if key is not None and (len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable()):
        raise Invalid("Idempotency-Key", f"An idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} printable characters.")
    return key


def place_order(store: Store, design_id: str, image_id: str, contact: Contact, *, spec_revision: int | None,
                shown_total: str | None = None, idempotency_key: str | None = None,
                notices: Notices = notice.OFF) -> dict:
    """Turn a design and its chosen image into a submitted order with a snapshot of the
    spec revision and quote the customer was shown.

    The order names the spec revision the customer saw (and may name the total): when the
    design or its price has moved on since, Conflict says so and nothing is placed. A
    repeat with the same idempotency key (a double click, a retry, Back and resend) returns
    the order the first request placed.
    """
    key = check_idempotency_key(idempotency_key)
    if key is not None and (row := store.query_one(q.ORDER_BY_IDEMPOTENCY_KEY,
                                                   {"design_id": design_id, "idempotency_key": key})):
        return _replayed(store, row["number"], image_id, contact)
    design = get_design(store, design_id)
    if spec_revision is None:
        raise Invalid("spec_revision", "The order must say which version of the design it is for; "
                      "please reload the page.")
    if spec_revision != design.spec_revision:
        raise Conflict("Your design changed after this page showed it. Please check the materials and the price "
                       "below, then send your order again.")
    _check_image(store, design, image_id)
    quote = quote_spec(store, design.spec)
    if shown_total is not None and _money(shown_total) != quote.total:
        raise Conflict(f"The price changed since you saw it: it is now {quote.total} {quote.currency}. "
                       "Please check it, then send your order again.")
    token = secrets.token_urlsafe(24)
    with store.write(durable=True) as db:
        if key is not None and (row := next(db.query(q.ORDER_BY_IDEMPOTENCY_KEY, {
                "design_id": design_id, "idempotency_key": key}), None)):
            placed = None                # the same request, placed meanwhile by its twin
        else:
            placed = _insert_order(db, design, image_id, contact, quote, token, key)
            notice.queue(db, notices, notice.order_placed(notices, {
                "number": placed, "token": token, "customer_name": contact.name, "email": contact.email,
                "phone": contact.phone, "notes": contact.notes}, quote.public(), design.description))
    if placed is None:
        return _replayed(store, row["number"], image_id, contact)
    log.info("order %s placed for design %s", placed, shown(design.id))
    return get_order(store, number=placed)


def _replayed(store: Store, number: int, image_id: str, contact: Contact) -> dict:
    """The order a repeat of the same request placed. A different request under the same
    key (another person, another concept) learns nothing of the first order."""
    order = get_order(store, number=number)
    if order["email"].lower() != contact.email.lower() or order["versions"][0]["image_id"] != image_id:
        raise Conflict("An order was already sent from this page with other details. Reload the page to send "
                       "another order.")
    return order


def _money(value: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid("quote_total", "The total must be an amount such as 1234.00.") from None
    if not amount.is_finite():
        raise Invalid("quote_total", "The total must be an amount such as 1234.00.")
    return amount


def _insert_order(db, design: Design, image_id: str, contact: Contact, quote: Quote, token: str,
                  key: str | None) -> int:
    number = next(db.query(q.NEXT_ORDER_NUMBER))["number"]
    stamp = now()
    db.execute(q.INSERT_ORDER, {
        "number": number, "token": token, "design_id": design.id, "customer_name": contact.name,
        "email": contact.email, "phone": contact.phone, "notes": contact.notes, "idempotency_key": key,
        "now": stamp,
    })
    db.execute(q.INSERT_ORDER_VERSION, {
        "number": number, "version": 1, "image_id": image_id, "description": design.description,
        "spec_json": design.spec.model_dump_json(), "spec_revision": design.spec_revision,
        "quote_json": json.dumps(quote.staff()), "now": stamp,
    })
    db.execute(q.INSERT_ORDER_EVENT, {
        "number": number, "kind": "status", "from_status": None, "to_status": "submitted",
        "body": contact.notes, "actor": "customer", "actor_name": contact.name, "now": stamp,
    })
    return number


def get_order(store: Store, *, number: int | None = None, token: str | None = None) -> dict:
    """The order with its versions and events, by staff number or customer token."""
    if token is not None:
        row = store.query_one(q.GET_ORDER_BY_TOKEN, {"token": token})
    elif number is None or not 1 <= number < 2 ** 63:
        row = None                       # beyond SQLite's integers: no such order, not an error
    else:
        row = store.query_one(q.GET_ORDER_BY_NUMBER, {"number": number})
    if row is None:
        raise NotFound("No order with that reference.")
    order = dict(row)
    order["versions"] = [
        {**v, "spec": json.loads(v["spec_json"]), "quote": json.loads(v["quote_json"]),
         "materials": Spec.model_validate_json(v["spec_json"]).materials()}
        for v in store.query(q.ORDER_VERSIONS, {"number": order["number"]})
    ]
    order["current"] = order["versions"][-1]
    order["events"] = store.query(q.ORDER_EVENTS, {"number": order["number"]})
    order["status_label"] = STATUS_LABELS[order["status"]]
    return order


def list_orders(store: Store, status: str | None = None, limit: int = 200, *, query: str | None = None,
                sort: str = "newest") -> list[dict]:
    """The inbox: one status or all, a search (order number, name, e-mail, phone or words
    of the description), sorted; each row says whether the customer did something the desk
    has not seen yet."""
    if status is not None and status not in STATUS_LABELS:
        raise Invalid("status", f"Unknown status; choose one of: {', '.join(STATUS_LABELS)}.")
    if sort not in q.ORDER_SORTS:
        raise Invalid("sort", f"Sort by one of: {', '.join(q.ORDER_SORTS)}.")
    query = (query or "").strip().lstrip("#")[:100] or None
    like = None if query is None else "%" + re.sub(r"([%_\\])", r"\\\1", query) + "%"
    rows = store.query(q.LIST_ORDERS.format(order=q.ORDER_SORTS[sort]),
                       {"status": status, "limit": limit, "query": query, "like": like})
    for row in rows:
        row["quote"] = json.loads(row.pop("quote_json"))
        row["spec"] = json.loads(row.pop("spec_json"))
        row["status_label"] = STATUS_LABELS[row["status"]]
        row["unread"] = row["staff_seen_at"] is None or (row["customer_at"] or "") > row["staff_seen_at"]
    return rows


CSV_COLUMNS = ["number", "placed_at", "updated_at", "status", "customer_name", "email", "phone", "piece_type",
               "metal", "description", "currency", "total", "deposit", "price_book_version"]


def orders_csv(rows: list[dict], *, with_cost: bool) -> str:
    """The inbox rows as CSV for the store's bookkeeping (cost and margin for admins only).
    A cell that starts like a formula is quoted with an apostrophe, so a spreadsheet shows
    what the customer typed instead of running it."""
    import csv
    import io
    columns = CSV_COLUMNS + (["cost_total", "margin"] if with_cost else [])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        quote = row["quote"]
        values = {"number": row["number"], "placed_at": row["created_at"], "updated_at": row["updated_at"],
                  "status": row["status"], "customer_name": row["customer_name"], "email": row["email"],
                  "phone": row["phone"] or "", "piece_type": row["spec"]["piece_type"], "metal": row["spec"]["metal"],
                  "description": row["description"], "currency": quote["currency"], "total": quote["total"],
                  "deposit": quote.get("deposit", ""), "price_book_version": quote.get("price_book_version", ""),
                  "cost_total": quote.get("cost_total", ""), "margin": quote.get("margin", "")}
        writer.writerow([_cell(values[c]) for c in columns])
    return out.getvalue()


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def status_counts(store: Store) -> dict[str, int]:
    counts = {row["status"]: row["n"] for row in store.query(q.STATUS_COUNTS)}
    return {status: counts.get(status, 0) for status in STATUS_LABELS}


def mark_seen(store: Store, number: int) -> None:
    """The desk has looked at this order: its unread mark goes until the customer acts again."""
    with store.write() as db:
        db.execute(q.MARK_ORDER_SEEN, {"number": number, "now": now()})


def other_orders(store: Store, order: dict) -> list[dict]:
    """The same customer's other orders (by e-mail address), newest first."""
    rows = store.query(q.OTHER_ORDERS_OF_EMAIL, {"email": order["email"], "number": order["number"]})
    for row in rows:
        row["status_label"] = STATUS_LABELS[row["status"]]
    return rows


def _message_body(body: str | None, field: str = "body", required: bool = True) -> str | None:
    body = (body or "").strip()
    if not body:
        if required:
            raise Invalid(field, "Please write a message.")
        return None
    if len(body) > MAX_MESSAGE:
        raise Invalid(field, f"Please keep the message under {MAX_MESSAGE} characters.")
    return body


def transition(store: Store, number: int, to_status: str, *, actor_name: str,
               body: str | None = None, body_field: str = "note", body_required: bool = False,
               notices: Notices = notice.OFF) -> dict:
    """Move an order to `to_status` if the state machine allows it, recording the event."""
    if to_status not in STATUS_LABELS:
        raise Invalid("status", f"Unknown status; choose one of: {', '.join(STATUS_LABELS)}.")
    if to_status in ("cancelled", "declined"):
        body_field, body_required = ("reason", True)     # the customer is told why
    body = _message_body(body, body_field, body_required)
    order = get_order(store, number=number)
    if to_status not in TRANSITIONS[order["status"]]:
        raise Conflict(f"An order that is {STATUS_LABELS[order['status']].lower()} cannot become "
                       f"{STATUS_LABELS[to_status].lower()}.")
    with store.write(durable=True) as db:
        stamp = now()
        changed = db.execute(q.UPDATE_ORDER_STATUS, {"number": number, "from_status": order["status"],
                                                     "to_status": to_status, "now": stamp}).rowcount
        if changed != 1:
            raise Conflict("The order changed while you were looking at it; reload and try again.")
        db.execute(q.INSERT_ORDER_EVENT, {
            "number": number, "kind": "status", "from_status": order["status"], "to_status": to_status,
            "body": body, "actor": "staff", "actor_name": actor_name, "now": stamp,
        })
        notice.queue(db, notices, notice.status_changed(notices, order, to_status, body))
    log.info("order %s %s -> %s by %s", number, order["status"], to_status, actor_name)
    return get_order(store, number=number)


def cancel_undo_deadline(order: dict) -> str | None:
    """Until when an admin may undo this order's cancellation (None if it is not cancelled)."""
    if order["status"] != "cancelled":
        return None
    cancelled = [e for e in order["events"] if e["kind"] == "status" and e["to_status"] == "cancelled"]
    if not cancelled:
        return None
    at = datetime.fromisoformat(cancelled[-1]["created_at"])
    return (at + timedelta(hours=UNDO_CANCEL_HOURS)).isoformat()


def undo_cancel(store: Store, number: int, *, actor_name: str, notices: Notices = notice.OFF) -> dict:
    """Put an accidentally cancelled order back where it was, within a day: a new event on
    the timeline (the cancellation stays in the record), and the customer is told."""
    order = get_order(store, number=number)
    deadline = cancel_undo_deadline(order)
    if deadline is None:
        raise Conflict("Only a cancelled order can have its cancellation undone.")
    if datetime.now(timezone.utc) > datetime.fromisoformat(deadline):
        raise Conflict(f"A cancellation can be undone for {UNDO_CANCEL_HOURS} hours; this one is older.")
    cancel = [e for e in order["events"] if e["kind"] == "status" and e["to_status"] == "cancelled"][-1]
    back_to = cancel["from_status"]
    with store.write(durable=True) as db:
        stamp = now()
        changed = db.execute(q.UPDATE_ORDER_STATUS, {"number": number, "from_status": "cancelled",
                                                     "to_status": back_to, "now": stamp}).rowcount
        if changed != 1:
            raise Conflict("The order changed while you were looking at it; reload and try again.")
        db.execute(q.INSERT_ORDER_EVENT, {
            "number": number, "kind": "status", "from_status": "cancelled", "to_status": back_to,
            "body": "The cancellation was undone.", "actor": "staff", "actor_name": actor_name, "now": stamp,
        })
        notice.queue(db, notices, notice.reinstated(notices, order, back_to))
    log.info("order %s: cancellation undone by %s (back to %s)", number, actor_name, back_to)
    return get_order(store, number=number)


def add_message(store: Store, number: int, body: str | None, *, actor: str, actor_name: str,
                notices: Notices = notice.OFF) -> dict:
    """Add a message from the customer or staff to the order's timeline; the other side
    is told by mail."""
    body = _message_body(body)
    order = get_order(store, number=number)
    with store.write(durable=True) as db:
        stamp = now()
        db.execute(q.INSERT_ORDER_EVENT, {
            "number": number, "kind": "message", "from_status": None, "to_status": None,
            "body": body, "actor": actor, "actor_name": actor_name, "now": stamp,
        })
        db.execute(q.TOUCH_ORDER, {"number": number, "now": stamp})
        mails = (notice.customer_message(notices, order, body) if actor == "customer" else
                 notice.staff_message(notices, order, body))
        notice.queue(db, notices, mails)
    return get_order(store, number=number)


def resubmit(store: Store, token: str, image_id: str, note: str | None = None,
             notices: Notices = notice.OFF) -> dict:
    """The customer's revision after a change request: the design as it is now (its spec
    revision and a fresh quote) becomes a new version, back to submitted."""
    order = get_order(store, token=token)
    design = get_design(store, order["design_id"])
    quote = quote_spec(store, design.spec)
    if order["status"] != "changes_requested":
        raise Conflict("Only an order whose changes were requested can be revised.")
    if order["design_id"] != design.id:
        raise Invalid("design_id", "That design belongs to another order.")
    _check_image(store, design, image_id)
    note = _message_body(note, "note", required=False)
    version = order["current_version"] + 1
    with store.write(durable=True) as db:
        stamp = now()
        db.execute(q.INSERT_ORDER_VERSION, {
            "number": order["number"], "version": version, "image_id": image_id,
            "description": design.description, "spec_json": design.spec.model_dump_json(),
            "spec_revision": design.spec_revision, "quote_json": json.dumps(quote.staff()), "now": stamp,
        })
        if db.execute(q.BUMP_ORDER_VERSION, {"number": order["number"], "version": version, "now": stamp}).rowcount != 1:
            raise Conflict("The order changed while you were revising it; reload and try again.")
        db.execute(q.INSERT_ORDER_EVENT, {
            "number": order["number"], "kind": "status", "from_status": "changes_requested",
            "to_status": "submitted", "body": note or f"Revised design (version {version}).",
            "actor": "customer", "actor_name": order["customer_name"], "now": stamp,
        })
        notice.queue(db, notices, notice.revision(notices, order, version, quote.public(), note))
    log.info("order %s resubmitted as version %d", order["number"], version)
    return get_order(store, token=token)


def send_order_links(store: Store, email: str | None, notices: Notices) -> bool:
    """"Find my order": queue one mail listing the orders placed with this address (none
    when there are none, so the form cannot be used to mail strangers). Returns whether
    mail is on; the caller's answer must not depend on anything else."""
    address = check_email(email)
    if not notices.enabled:
        return False
    rows = store.query(q.ORDERS_OF_EMAIL, {"email": address})
    if rows:
        for row in rows:
            row["status_label"] = STATUS_LABELS[row["status"]]
        with store.write() as db:
            # To the address as it was given with the orders, however it was typed here.
            notice.queue(db, notices, notice.orders_of_address(notices, rows[0]["email"], rows))
    return True


_PUBLIC_QUOTE = ("currency", "total", "deposit", "valid_until", "price_book_version", "notes")
_PUBLIC_LINE = ("kind", "label", "amount", "weight_g", "carat_total", "basis")


def public_view(order: dict) -> dict:
    """What the customer's private page and API show: no cost, no margin."""
    current = order["current"]
    # Built from an allow-list: the stored snapshot is the jeweler's (cost, markup, flags).
    quote = {k: current["quote"][k] for k in _PUBLIC_QUOTE if k in current["quote"]}
    quote["lines"] = [{k: line[k] for k in _PUBLIC_LINE if k in line} for line in current["quote"]["lines"]]
    return {
        "number": order["number"], "status": order["status"], "status_label": order["status_label"],
        "version": order["current_version"], "quote": quote, "materials": current["materials"],
        "image": {"id": current["image_id"], "url": f"/images/{current['image_id']}.png"},
        "design_id": order["design_id"],
        "events": [
            {"kind": e["kind"], "from_status": e["from_status"], "to_status": e["to_status"], "body": e["body"],
             "actor": e["actor"], "actor_name": e["actor_name"] if e["actor"] != "staff" else "Jeweler",
             "created_at": e["created_at"]}
            for e in order["events"] if e["kind"] != "plan"       # due dates and assignments are the desk's
        ],
        "stage": order.get("stage") if order["status"] == "in_production" else None,
    }


def disagreements(store: Store, order: dict) -> list[str]:
    """What the jeweler should know before trusting the picture: the concept of the
    current version drawn from another revision of the spec, or showing another metal or
    another number of stones than the order lists, or a metal whose colour looks unlike
    the one it was drawn for. Empty when picture and order agree."""
    current = order["current"]
    image = get_image(store, current["image_id"])
    drawn, ordered = Spec.model_validate_json(image.spec_json), Spec.model_validate(current["spec"])
    flags = []
    if current.get("spec_revision") is not None and image.spec_revision != current["spec_revision"]:
        flags.append(f"The concept was drawn from revision {image.spec_revision} of the design; the order is "
                     f"revision {current['spec_revision']}.")
    if drawn.metal != ordered.metal:
        flags.append(f"The concept shows {catalog.METALS[drawn.metal].label}; the order is "
                     f"{catalog.METALS[ordered.metal].label}.")
    drawn_count, ordered_count = sum(g.count for g in drawn.stones), sum(g.count for g in ordered.stones)
    if drawn_count != ordered_count:
        flags.append(f"The concept shows {drawn_count} stone{'s' if drawn_count != 1 else ''}; the order lists "
                     f"{ordered_count}.")
    elif [(g.type, g.shape) for g in drawn.stones] != [(g.type, g.shape) for g in ordered.stones]:
        flags.append("The concept's stones differ in type or shape from the ordered ones.")
    if image.metal_looks_off:
        flags.append(f"The concept's metal colour looks off: {image.metal_check_reason}")
    return flags
