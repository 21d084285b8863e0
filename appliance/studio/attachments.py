"""Files from the bench on an order's timeline: a photo, a CAD render, a PDF. A picture
goes through the same checks as a customer's photo (size, an allow-list of formats, no
decompression bombs) and is stored as a normalised PNG; a PDF is checked for its header
and trailer and served only as a download. The jeweler marks whether the customer sees
it; a CAD render the customer sees waits for their approval (or their comments, as
messages), which the store is told of.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from appliance.errors import Conflict, Invalid, NotFound
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio import notices as notice
from appliance.studio.designs import new_id
from appliance.studio.notices import Mail, Notices
from appliance.studio.orders import get_order
from appliance.studio.uploads import MAX_BYTES, decode_picture

KINDS = {"photo": "Photo from the bench", "cad": "CAD render", "pdf": "PDF"}
LONGEST_SIDE = 2048


@dataclass(frozen=True)
class Attachment:
    id: str
    order_number: int
    kind: str
    path: str
    media_type: str
    filename: str
    size_bytes: int
    shown_to_customer: bool
    note: str | None
    approved_at: str | None
    created_by: str
    created_at: str

    @property
    def awaits_approval(self) -> bool:
        return self.kind == "cad" and self.shown_to_customer and self.approved_at is None


def _row(row: dict) -> Attachment:
    return Attachment(**{**row, "shown_to_customer": bool(row["shown_to_customer"])})


def _safe_name(filename: str | None, fallback: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(filename or "").name)[:100].strip(" .")
    return name or fallback


def attach(store: Store, folder: Path, number: int, data: bytes, *, filename: str | None, kind: str,
           shown_to_customer: bool, note: str | None, actor_name: str, notices: Notices = notice.OFF) -> Attachment:
    """Store a file from the bench on the order's timeline."""
    order = get_order(store, number=number)
    note = (note or "").strip() or None
    if note and len(note) > 2000:
        raise Invalid("note", "Please keep the note under 2000 characters.")
    if data.startswith(b"%PDF-"):
        if len(data) > MAX_BYTES:
            raise Invalid("file", f"Please send a file under {MAX_BYTES // (1024 * 1024)} MB.")
        if b"%%EOF" not in data[-2048:]:
            raise Invalid("file", "That PDF is incomplete (no end-of-file marker); please export it again.")
        kind, media_type, suffix, body = "pdf", "application/pdf", "pdf", data
    else:
        if kind not in ("photo", "cad"):
            raise Invalid("kind", "Say whether the picture is a photo from the bench or a CAD render.")
        image = decode_picture(data, "file").convert("RGB")
        image.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.LANCZOS)
        media_type, suffix, body = "image/png", "png", None
    attachment_id = new_id()
    relative = f"{number}/{attachment_id}.{suffix}"
    target = Path(folder) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    if body is None:
        image.save(partial, format="PNG")
    else:
        partial.write_bytes(body)
    os.replace(partial, target)
    shown = _safe_name(filename, f"order-{number}-{kind}.{suffix}")
    try:
        with store.write(durable=True) as db:
            stamp = now()
            db.execute(q.INSERT_ATTACHMENT, {
                "id": attachment_id, "number": number, "kind": kind, "path": relative, "media_type": media_type,
                "filename": shown, "size_bytes": target.stat().st_size, "shown": int(shown_to_customer),
                "note": note, "created_by": actor_name, "now": stamp})
            db.execute(q.INSERT_ORDER_EVENT, {
                "number": number, "kind": "attachment", "from_status": None, "to_status": None,
                "body": f"{KINDS[kind]}: {shown}" + (f" — {note}" if note else "") +
                        ("" if shown_to_customer else " (for the bench only)"),
                "actor": "staff", "actor_name": actor_name, "now": stamp})
            if shown_to_customer:
                notice.queue(db, notices, [_shared_mail(notices, order, kind, note)])
    except BaseException:
        target.unlink(missing_ok=True)          # no row, no file
        raise
    return get_attachment(store, attachment_id)


def _shared_mail(notices: Notices, order: dict, kind: str, note: str | None) -> Mail:
    number = order["number"]
    asks = kind == "cad"
    return Mail("attachment", order["email"],
                f"{'Please approve the design' if asks else 'Something new'} for your order #{number}", [
                    f"Hello {order['customer_name'].split()[0] if order['customer_name'].strip() else 'there'},",
                    (f"The jeweler made a CAD render of your piece for order #{number}. Please look at it and approve "
                     "it, or write what should change, on your order's page.") if asks else
                    f"The jeweler shared a {KINDS[kind].lower()} of your order #{number} on your order's page.",
                    *([f"Their note: {note}"] if note else []),
                ], (f"Open your order #{number}", notices.order_link(order["token"])), number)


def get_attachment(store: Store, attachment_id: str) -> Attachment:
    row = store.query_one(q.GET_ATTACHMENT, {"id": attachment_id})
    if row is None:
        raise NotFound("No attachment with that id.")
    return _row(row)


def of_order(store: Store, number: int, *, customer_view: bool = False) -> list[Attachment]:
    found = [_row(r) for r in store.query(q.ATTACHMENTS_OF_ORDER, {"number": number})]
    return [a for a in found if a.shown_to_customer] if customer_view else found


def for_customer(store: Store, token: str, attachment_id: str) -> Attachment:
    """An attachment the customer of this order may see, or NotFound."""
    order = get_order(store, token=token)
    attachment = get_attachment(store, attachment_id)
    if attachment.order_number != order["number"] or not attachment.shown_to_customer:
        raise NotFound("No attachment with that id.")
    return attachment


def approve(store: Store, token: str, attachment_id: str, notices: Notices = notice.OFF) -> Attachment:
    """The customer approves the CAD render shown to them; the store is told."""
    order = get_order(store, token=token)
    attachment = for_customer(store, token, attachment_id)
    if attachment.kind != "cad":
        raise Conflict("Only a CAD render waits for your approval.")
    with store.write(durable=True) as db:
        stamp = now()
        if db.execute(q.APPROVE_ATTACHMENT, {"id": attachment_id, "now": stamp}).rowcount != 1:
            raise Conflict("You approved this design already.")
        db.execute(q.INSERT_ORDER_EVENT, {
            "number": order["number"], "kind": "approval", "from_status": None, "to_status": None,
            "body": f"Approved the CAD render {attachment.filename}.", "actor": "customer",
            "actor_name": order["customer_name"], "now": stamp})
        notice.queue(db, notices, [Mail("store_approval", notices.store_email,
                                        f"Order #{order['number']}: the customer approved the CAD render",
                                        [f"{order['customer_name']} approved the CAD render {attachment.filename} "
                                         f"for order #{order['number']}. The bench can go on."],
                                        None, order["number"])])
    return get_attachment(store, attachment_id)
