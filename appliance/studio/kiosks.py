"""In-store kiosks: a shared touch screen that staff pair once and that forgets each
customer.

Staff add a kiosk by name and get a one-time pairing link (valid for a day). Opening it
on the kiosk's browser pairs that browser: it gets a long random secret (kept in an
HttpOnly cookie; the database holds only its SHA-256, like a staff session) and the link
is spent. Revoking the kiosk makes its secret name nothing from the next request on.

A paired kiosk serves one customer at a time. Its current customer is an anonymous
*visit*: the designs started at the kiosk are noted against the visit, so the kiosk page
can offer "continue your design"; starting over (idle, the Start over button, a few
seconds after an order) takes a new visit and forgets those notes. The server does not
rely on the screen to say so: a request after a long silence (the screen's reset never
arrived, its browser crashed or restarted) starts a new visit before it is served.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from appliance.errors import Conflict, Invalid, NotFound
from appliance.storage import store as q
from appliance.storage.store import Store, now

# Kiosk names appear in log lines and URLs of the desk: plain, short and unambiguous.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
PAIRING_HOURS = 24
# The pairing token and the secret: URL-safe, 32 and 43 characters (192 and 256 bits).
_PAIRING_BYTES, _SECRET_BYTES = 24, 32
PAIR_PATH = "/kiosk/pair/"
# How often a kiosk's requests are written down as its visit's latest: a write per
# request would put every page view of a busy kiosk on the write lock.
SEEN_EVERY_SECONDS = 30


@dataclass(frozen=True)
class Kiosk:
    """A paired, unrevoked kiosk as a request from it sees it."""
    id: int
    name: str
    visit_id: str


@dataclass(frozen=True)
class Added:
    """A kiosk just added, with its pairing token (shown once, never stored)."""
    name: str
    pairing_token: str
    expires_at: str


def digest(secret: str) -> str:
    """The SHA-256 (hex) a pairing token or kiosk secret is stored and looked up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """The kiosk name, or Invalid naming the field."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise Invalid("name", "1-40 letters, digits, dots, dashes or underscores, starting with a letter or digit "
                              "(for example front-counter).")
    return name


def pairing_url(base_url: str, token: str) -> str:
    """The pairing link on the customer site at `base_url`."""
    return f"{base_url.rstrip('/')}{PAIR_PATH}{token}"


def add(store: Store, name: str, *, actor: str) -> Added:
    """Register a kiosk; its one-time pairing token is in the answer and nowhere else.
    A second live kiosk of the same name is a Conflict (revoke the old one first)."""
    name = check_name(name)
    token = secrets.token_urlsafe(_PAIRING_BYTES)
    expires = (datetime.now(timezone.utc) + timedelta(hours=PAIRING_HOURS)).isoformat(timespec="microseconds")
    try:
        with store.write(durable=True) as db:
            db.execute(q.INSERT_KIOSK, {"name": name, "pairing_hash": digest(token), "pairing_expires_at": expires,
                                        "visit_id": secrets.token_urlsafe(16), "now": now(), "created_by": actor})
            db.execute(q.INSERT_AUDIT, {"now": now(), "actor": actor, "action": "kiosk added", "target": name,
                                        "detail": f"pairing link valid for {PAIRING_HOURS} hours"})
    except sqlite3.IntegrityError:
        raise Conflict(f"A kiosk named {name!r} already exists; revoke it first to pair a new screen.") from None
    return Added(name=name, pairing_token=token, expires_at=expires)


def listing(store: Store) -> list[dict]:
    """Every kiosk (live first), with its state in words: waiting, paired, expired or revoked."""
    moment = now()
    kiosks = []
    for row in store.query(q.LIST_KIOSKS):
        if row["revoked_at"]:
            state = "revoked"
        elif row["paired_at"]:
            state = "paired"
        elif row["pairing_expires_at"] <= moment:
            state = "link expired"
        else:
            state = "waiting for pairing"
        kiosks.append({**row, "state": state, "live": not row["revoked_at"]})
    return kiosks


def revoke(store: Store, name: str, *, actor: str) -> None:
    """Unpair a kiosk: its secret stops working at once, and its designs are forgotten."""
    row = store.query_one(q.LIVE_KIOSK_BY_NAME, {"name": (name or "").strip()})
    if row is None:
        raise NotFound(f"No live kiosk named {name!r}.")
    with store.write(durable=True) as db:
        db.execute(q.REVOKE_KIOSK, {"id": row["id"], "now": now(), "revoked_by": actor})
        db.execute(q.FORGET_KIOSK_DESIGNS, {"kiosk_id": row["id"]})
        db.execute(q.INSERT_AUDIT, {"now": now(), "actor": actor, "action": "kiosk revoked", "target": row["name"],
                                    "detail": None})


def pair(store: Store, token: str) -> tuple[Kiosk, str]:
    """Spend a pairing token: (the kiosk, its new secret for the cookie). A token used
    before, expired, revoked or unknown is a Conflict or NotFound saying which."""
    token = (token or "").strip()
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    if 16 <= len(token) <= 100:
        with store.write(durable=True) as db:
            paired = db.execute(q.PAIR_KIOSK, {"pairing_hash": digest(token), "secret_hash": digest(secret),
                                               "now": now()}).fetchall()
        if paired:
            kiosk = store.query_one(q.PAIRED_KIOSK, {"secret_hash": digest(secret)})
            return Kiosk(id=kiosk["id"], name=kiosk["name"], visit_id=kiosk["visit_id"]), secret
    pairable(store, token)                  # raises, saying why the token did not pair
    raise NotFound("That is not a pairing link of this store.")


def pairable(store: Store, token: str) -> str:
    """The name of the kiosk this unspent, unexpired pairing token would pair (the token
    stays unspent), or the Conflict or NotFound that `pair` would raise."""
    token = (token or "").strip()
    row = store.query_one(q.KIOSK_BY_PAIRING, {"pairing_hash": digest(token)}) if 16 <= len(token) <= 100 else None
    if row is None:
        raise NotFound("That is not a pairing link of this store.")
    if row["revoked_at"]:
        raise Conflict(f"The kiosk {row['name']!r} was revoked; ask the store for a new pairing link.")
    if row["paired_at"]:
        raise Conflict("This pairing link was used already: each link pairs one screen, once. "
                       "Ask the store for a new one.")
    if row["pairing_expires_at"] <= now():
        raise Conflict("This pairing link has expired (links work for a day). Ask the store for a new one.")
    return row["name"]


def paired(store: Store, secret: str | None) -> Kiosk | None:
    """The live kiosk whose secret this is, or None (no secret, unknown, or revoked)."""
    if not secret or len(secret) > 100:
        return None
    row = store.query_one(q.PAIRED_KIOSK, {"secret_hash": digest(secret)})
    return None if row is None else Kiosk(id=row["id"], name=row["name"], visit_id=row["visit_id"])


def seen(store: Store, secret: str | None, *, forget_after: float,
         note_every: float = SEEN_EVERY_SECONDS) -> Kiosk | None:
    """The live kiosk whose secret this is (as `paired`), for a request it makes now.
    After more than `forget_after` seconds without a request, its visit is ended first
    (its designs forgotten) and the kiosk comes back with a new one; otherwise the request
    is noted as the visit's latest, at most once every `note_every` seconds."""
    if not secret or len(secret) > 100:
        return None
    row = store.query_one(q.PAIRED_KIOSK, {"secret_hash": digest(secret)})
    if row is None:
        return None
    kiosk = Kiosk(id=row["id"], name=row["name"], visit_id=row["visit_id"])
    silent = _seconds_since(row["visit_seen_at"])
    if silent > forget_after:
        with store.write() as db:
            # Read again under the write lock: a request just before this one may have
            # started the new visit already (or noted itself), and its design must stay.
            current = db.execute(q.KIOSK_VISIT, {"id": kiosk.id}).fetchone()
            if current is None:
                return None                                           # revoked meanwhile
            visit_id, seen_at = current
            if _seconds_since(seen_at) > forget_after:
                visit_id = _new_visit(db, kiosk.id)
        return replace(kiosk, visit_id=visit_id)
    if silent >= note_every or silent < 0:              # < 0: the clock was set back
        with store.write() as db:
            db.execute(q.KIOSK_VISIT_SEEN, {"id": kiosk.id, "visit_id": kiosk.visit_id, "now": now()})
    return kiosk


def _seconds_since(moment: str | None) -> float:
    """Seconds from a stored time to now (infinite for none)."""
    if not moment:
        return float("inf")
    return (datetime.now(timezone.utc) - datetime.fromisoformat(moment)).total_seconds()


def note_design(store: Store, kiosk: Kiosk, design_id: str) -> None:
    """Remember that the kiosk's current customer started this design."""
    with store.write() as db:
        db.execute(q.NOTE_KIOSK_DESIGN, {"kiosk_id": kiosk.id, "visit_id": kiosk.visit_id, "design_id": design_id,
                                         "now": now()})


def visit_designs(store: Store, kiosk: Kiosk) -> list[dict]:
    """The designs the kiosk's current customer started (newest first, at most five)."""
    return store.query(q.KIOSK_VISIT_DESIGNS, {"kiosk_id": kiosk.id, "visit_id": kiosk.visit_id})


def start_over(store: Store, kiosk: Kiosk) -> str:
    """End the current customer's visit: forget their designs, take a new anonymous visit
    id (returned)."""
    with store.write() as db:
        return _new_visit(db, kiosk.id)


def _new_visit(db, kiosk_id: int) -> str:
    """Inside a write: forget the kiosk's designs and give it a new visit id (returned)."""
    visit_id = secrets.token_urlsafe(16)
    db.execute(q.FORGET_KIOSK_DESIGNS, {"kiosk_id": kiosk_id})
    db.execute(q.NEW_KIOSK_VISIT, {"id": kiosk_id, "visit_id": visit_id, "now": now()})
    return visit_id
