"""An order's life at the bench after it is accepted: the production stage it is in (the
stages the store works with, switched on or off in the settings), its due date and the
jeweler it is assigned to, and the deposit received (recorded, never processed). Each is
an event on the order's timeline, with who and when.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

from appliance.errors import Conflict, Invalid
from appliance.jewelry.pricing import format_money
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio.orders import get_order

log = logging.getLogger(__name__)

STAGES = {
    "cad": "CAD / design approval",
    "casting": "Casting",
    "setting": "Stone setting",
    "polishing": "Polishing",
    "quality_check": "Quality check",
}
DEPOSIT_METHODS = {"cash": "Cash", "card": "Card", "bank_transfer": "Bank transfer", "other": "Other"}
# Where a due date still matters: before the piece is handed over.
DUE_STATUSES = ("accepted", "in_production", "ready")


def enabled_stages(setting: str) -> dict[str, str]:
    """The store's stages from the `production_stages` setting, in their bench order."""
    wanted = [s.strip() for s in setting.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise ValueError(f"production_stages: unknown stage {unknown[0]!r}; choose from {', '.join(STAGES)}")
    return {key: label for key, label in STAGES.items() if key in wanted}


def is_overdue(order: dict, today: date | None = None) -> bool:
    today = today or datetime.now(timezone.utc).date()
    return bool(order.get("due_date")) and order["status"] in DUE_STATUSES and order["due_date"] < today.isoformat()


def _event(db, number: int, kind: str, body: str, actor_name: str, stamp: str) -> None:
    db.execute(q.INSERT_ORDER_EVENT, {"number": number, "kind": kind, "from_status": None, "to_status": None,
                                      "body": body, "actor": "staff", "actor_name": actor_name, "now": stamp})


def set_stage(store: Store, number: int, stage: str, *, stages: dict[str, str], actor_name: str) -> dict:
    """Move an order in production to one of the store's stages."""
    if stage not in stages:
        raise Invalid("stage", f"Choose one of the store's stages: {', '.join(stages.values()) or 'none are on'}.")
    order = get_order(store, number=number)
    if order["status"] != "in_production":
        raise Conflict("Stages are for orders in production; move the order into production first.")
    with store.write(durable=True) as db:
        stamp = now()
        if db.execute(q.SET_ORDER_STAGE, {"number": number, "stage": stage, "now": stamp}).rowcount != 1:
            raise Conflict("The order changed while you were looking at it; reload and try again.")
        _event(db, number, "stage", stages[stage], actor_name, stamp)
    log.info("order %s at stage %s (%s)", number, stage, actor_name)
    return get_order(store, number=number)


def plan(store: Store, number: int, due_date: str | None, assigned_to: str | None, *, actor_name: str) -> dict:
    """Set (or clear) the order's due date and the jeweler it is assigned to."""
    due = (due_date or "").strip() or None
    if due is not None:
        try:
            due = date.fromisoformat(due).isoformat()
        except ValueError:
            raise Invalid("due_date", "A due date is a date such as 2026-12-24.") from None
    who = (assigned_to or "").strip() or None
    staff = [row["username"] for row in store.query(q.ACTIVE_STAFF_NAMES)]
    if who is not None and who not in staff:
        raise Invalid("assigned_to", "Assign the order to one of the store's staff accounts.")
    get_order(store, number=number)
    parts = [f"Due {due}" if due else "No due date", f"assigned to {who}" if who else "not assigned"]
    with store.write(durable=True) as db:
        stamp = now()
        db.execute(q.SET_ORDER_PLAN, {"number": number, "due_date": due, "assigned_to": who, "now": stamp})
        _event(db, number, "plan", ", ".join(parts) + ".", actor_name, stamp)
    return get_order(store, number=number)


def record_deposit(store: Store, number: int, amount: str | None, received_on: str | None, method: str | None, *,
                   actor_name: str) -> dict:
    """Record the deposit the store received (the amount, the day, how); nothing is charged."""
    order = get_order(store, number=number)
    if order["status"] in ("declined", "cancelled"):
        raise Conflict("This order is closed; no deposit can be recorded on it.")
    try:
        money = Decimal(str(amount or "").strip().replace(",", ""))
    except InvalidOperation:
        raise Invalid("amount", "The amount received is a number such as 500.00.") from None
    total = Decimal(order["current"]["quote"]["total"])
    if not money.is_finite() or money <= 0 or money > total:
        raise Invalid("amount", f"The amount received is more than 0 and at most the total ({total}).")
    try:
        day = date.fromisoformat((received_on or "").strip())
    except ValueError:
        raise Invalid("received_on", "The day it was received is a date such as 2026-11-27.") from None
    if day > datetime.now(timezone.utc).date():
        raise Invalid("received_on", "The day it was received cannot be in the future.")
    if method not in DEPOSIT_METHODS:
        raise Invalid("method", f"How it was paid: one of {', '.join(DEPOSIT_METHODS.values())}.")
    money = money.quantize(Decimal("0.01"))
    currency = order["current"]["quote"]["currency"]
    with store.write(durable=True) as db:
        stamp = now()
        db.execute(q.SET_ORDER_DEPOSIT, {"number": number, "amount": str(money), "received_on": day.isoformat(),
                                         "method": method, "now": stamp})
        _event(db, number, "deposit", f"Deposit of {format_money(money, currency)} received on {day.isoformat()} "
               f"({DEPOSIT_METHODS[method].lower()}).", actor_name, stamp)
    log.info("order %s: deposit recorded by %s", number, actor_name)
    return get_order(store, number=number)
