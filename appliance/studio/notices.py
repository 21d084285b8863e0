"""The mails an order's events send, written into the outbox in the same transaction as
the event they announce (so an event is never announced without happening, nor happens
without its mail queued); appliance.ops.mail sends them after commit.

To the store: a new order, a customer's message, a revision. To the customer: the order
received (with its private link), changes requested, accepted (with the deposit and what
happens next), declined (with the reason), each message from the jeweler, and the later
status changes. Every mail has a plain text and a simple HTML part, carries the store's
name, and never the cost side (cost, markup, margin, the jeweler's flags).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from appliance.jewelry.pricing import format_money
from appliance.storage import store as q
from appliance.storage.store import now


@dataclass(frozen=True)
class Notices:
    """Who mails go to and what they link to; `enabled` is False when the store has no
    SMTP server, and then nothing is queued."""
    enabled: bool = False
    store_name: str = "Diamra Studio"
    public_url: str = ""
    store_email: str = ""

    @classmethod
    def from_settings(cls, settings) -> "Notices":
        return cls(enabled=bool(settings.smtp_host), store_name=settings.store_name,
                   public_url=settings.public_url.rstrip("/"), store_email=settings.store_email)

    def order_link(self, token: str) -> str:
        return f"{self.public_url}/o/{token}"


OFF = Notices()


@dataclass
class Mail:
    kind: str
    to: str
    subject: str
    paragraphs: list[str] = field(default_factory=list)
    link: tuple[str, str] | None = None      # (label, url)
    order_number: int | None = None

    def text(self, store_name: str) -> str:
        parts = list(self.paragraphs)
        if self.link:
            parts.append(f"{self.link[0]}: {self.link[1]}")
        parts.append(f"— {store_name}")
        return "\n\n".join(parts) + "\n"

    def html(self, store_name: str) -> str:
        body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in self.paragraphs)
        if self.link:
            body += (f'<p><a href="{html.escape(self.link[1], quote=True)}">{html.escape(self.link[0])}</a></p>')
        return (f'<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">'
                f"{body}<p>— {html.escape(store_name)}</p></body></html>")


def queue(db, notices: Notices, mails: list[Mail]) -> int:
    """Write mails into the outbox inside the caller's transaction; none when mail is off."""
    if not notices.enabled:
        return 0
    stamp = now()
    queued = 0
    for mail in mails:
        if not mail.to:
            continue                 # no store address configured for store alerts
        db.execute(q.INSERT_MAIL, {
            "kind": mail.kind, "order_number": mail.order_number, "to_address": mail.to,
            "subject": f"{mail.subject} — {notices.store_name}", "text_body": mail.text(notices.store_name),
            "html_body": mail.html(notices.store_name), "now": stamp,
        })
        queued += 1
    return queued


def _money(quote: dict) -> str:
    return format_money(quote["total"], quote["currency"])


def _who(order: dict) -> str:
    return order["customer_name"].split()[0] if order["customer_name"].strip() else "there"


def order_placed(notices: Notices, order: dict, quote: dict, description: str) -> list[Mail]:
    number, link = order["number"], notices.order_link(order["token"])
    return [
        Mail("order_received", order["email"], f"We received your order #{number}", [
            f"Hello {_who(order)},",
            f"Thank you for your order #{number}. The jeweler will look at your design and answer you here: "
            "they may accept it, ask you about a change, or write to you.",
            f"Quoted total: {_money(quote)}. The jeweler confirms every detail before making your piece.",
            "Keep this mail: the link below is your private page for this order. Anyone with the link can see it.",
        ], (f"Open your order #{number}", link), number),
        Mail("store_new_order", notices.store_email, f"New order #{number} from {order['customer_name']}", [
            f"A new order #{number} arrived from {order['customer_name']} ({order['email']}"
            f"{', ' + order['phone'] if order.get('phone') else ''}).",
            f"Their words: {description}",
            f"Quoted total: {_money(quote)}.",
            *([f"Their note: {order['notes']}"] if order.get("notes") else []),
            "Open the order on the staff dashboard to accept it, ask for a change or write to them.",
        ], None, number),
    ]


def customer_message(notices: Notices, order: dict, body: str) -> list[Mail]:
    return [Mail("store_customer_message", notices.store_email,
                 f"Message from {order['customer_name']} on order #{order['number']}",
                 [f"{order['customer_name']} wrote on order #{order['number']}:", body,
                  "Answer on the staff dashboard; they will get your answer by mail."], None, order["number"])]


def revision(notices: Notices, order: dict, version: int, quote: dict, note: str | None) -> list[Mail]:
    return [Mail("store_revision", notices.store_email, f"Order #{order['number']} revised (version {version})",
                 [f"{order['customer_name']} sent a revised design for order #{order['number']} (version {version}).",
                  f"Quoted total now: {_money(quote)}.", *([f"Their note: {note}"] if note else []),
                  "It is back in the inbox, waiting for you."], None, order["number"])]


def staff_message(notices: Notices, order: dict, body: str) -> list[Mail]:
    return [Mail("customer_message", order["email"], f"A message about your order #{order['number']}",
                 [f"Hello {_who(order)},", f"The jeweler wrote about your order #{order['number']}:", body,
                  "You can answer on your order's page."],
                 (f"Open your order #{order['number']}", notices.order_link(order["token"])), order["number"])]


def status_changed(notices: Notices, order: dict, to_status: str, body: str | None) -> list[Mail]:
    """The customer's mail for a move to `to_status`; none for moves they need not hear of."""
    number, link = order["number"], (f"Open your order #{order['number']}", notices.order_link(order["token"]))
    hello = f"Hello {_who(order)},"
    note = [f"The jeweler's note: {body}"] if body else []
    quote = order["current"]["quote"]
    if to_status == "accepted":
        deposit = quote.get("deposit")
        return [Mail("accepted", order["email"], f"Your order #{number} is accepted", [
            hello, f"Good news: the jeweler accepted your order #{number} ({_money(quote)}).", *note,
            (f"What happens next: the store asks a deposit of {format_money(deposit, quote['currency'])} to start "
             "making your "
             "piece; they will tell you how to pay it. Then your piece goes into production, and you will hear "
             "from us when it is ready for pickup.") if deposit else
            ("What happens next: your piece goes into production, and you will hear from us when it is ready "
             "for pickup."),
        ], link, number)]
    if to_status == "changes_requested":
        return [Mail("changes_requested", order["email"], f"A question about your order #{number}", [
            hello, f"The jeweler would like a change to your order #{number} before making it:",
            body or "Please look at their message on your order's page.",
            "You can revise your design or answer on your order's page.",
        ], link, number)]
    if to_status == "declined":
        return [Mail("declined", order["email"], f"Your order #{number} could not be accepted", [
            hello, f"We are sorry: the jeweler cannot make your order #{number} as it is.",
            f"Their reason: {body}" if body else "Their reason is on your order's page.",
            "You are welcome to start a new design or write to the store.",
        ], link, number)]
    if to_status == "cancelled":
        return [Mail("cancelled", order["email"], f"Your order #{number} is cancelled", [
            hello, f"Your order #{number} has been cancelled.", *([f"The reason: {body}"] if body else []),
            "If this is a surprise, please answer on your order's page or contact the store.",
        ], link, number)]
    if to_status == "in_production":
        return [Mail("in_production", order["email"], f"Your order #{number} is being made", [
            hello, f"Your order #{number} is now in production at the bench.", *note,
            "We will write again when it is ready for pickup.",
        ], link, number)]
    if to_status == "ready":
        return [Mail("ready", order["email"], f"Your order #{number} is ready for pickup", [
            hello, f"Your piece for order #{number} is ready for pickup at {notices.store_name}.", *note,
        ], link, number)]
    if to_status == "completed":
        return [Mail("completed", order["email"], f"Thank you — order #{number} is complete", [
            hello, f"Your order #{number} is complete. Thank you for choosing {notices.store_name}.", *note,
        ], link, number)]
    return []


def reinstated(notices: Notices, order: dict, status_label: str) -> list[Mail]:
    number = order["number"]
    return [Mail("reinstated", order["email"], f"Your order #{number} is active again", [
        f"Hello {_who(order)},", f"We are sorry for the confusion: your order #{number} was cancelled by mistake, "
        "and the cancellation has been undone. Nothing else about your order changed.",
    ], (f"Open your order #{number}", notices.order_link(order["token"])), number)]


def orders_of_address(notices: Notices, email: str, rows: list[dict]) -> list[Mail]:
    """"Find my order": the links of every order placed with this address."""
    lines = [f"Order #{r['number']} ({r['status_label'].split(' —')[0]}, placed {r['created_at'][:10]}): "
             f"{notices.order_link(r['token'])}" for r in rows]
    return [Mail("find_my_order", email, "Your orders", [
        "Hello,", "Someone (we hope you) asked for the orders placed with this e-mail address. Here they are:",
        "\n".join(lines), "Each link is the private page of that order; keep them to yourself.",
        "If you did not ask for this, you can ignore this mail.",
    ])]
