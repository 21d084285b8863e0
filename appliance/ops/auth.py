"""Staff accounts (argon2id password hashes) and server-side sessions with a CSRF token.

The session cookie holds a random token; the database holds only its SHA-256, so a copy
of the database does not log anyone in. Logging out deletes the row: the cookie is dead.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.errors import Conflict, Invalid
from appliance.storage import store as q
from appliance.storage.store import Store, now

ROLES = ("admin", "jeweler")
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,40}$")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("not a real password, used to keep timing even")


def create_user(store: Store, username: str, password: str, role: str = "jeweler") -> int:
    """Add a staff account; Invalid or Conflict say what is wrong."""
    if not _USERNAME.match(username or ""):
        raise Invalid("username", "2-40 letters, digits, dots, dashes or underscores.")
    if role not in ROLES:
        raise Invalid("role", f"Role must be one of: {', '.join(ROLES)}.")
    if len(password or "") < MIN_PASSWORD:
        raise Invalid("password", f"Use at least {MIN_PASSWORD} characters.")
    try:
        with store.write(durable=True) as db:
            cursor = db.execute(q.INSERT_USER, {"username": username, "password_hash": _hasher.hash(password),
                                                "role": role, "now": now()})
            return cursor.lastrowid
    except sqlite3.IntegrityError:
        raise Conflict(f"A staff account named {username!r} already exists.") from None


def list_users(store: Store) -> list[dict]:
    """Every staff account (name, role, whether disabled), by name."""
    return store.query(q.LIST_USERS)


def set_password(store: Store, user_id: int, password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise Invalid("password", f"Use at least {MIN_PASSWORD} characters.")
    with store.write(durable=True) as db:
        db.execute(q.UPDATE_USER_PASSWORD, {"id": user_id, "password_hash": _hasher.hash(password)})


def staff_names(store: Store) -> list[str]:
    """The names of the active staff accounts, for assigning an order."""
    return [row["username"] for row in store.query(q.ACTIVE_STAFF_NAMES)]


def authenticate(store: Store, username: str, password: str) -> dict | None:
    """The user row when the password matches, else None (same work either way)."""
    user = store.query_one(q.GET_USER_BY_NAME, {"username": username or ""})
    try:
        _hasher.verify(user["password_hash"] if user else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user["disabled"]:
        return None
    if _hasher.check_needs_rehash(user["password_hash"]):
        with store.write() as db:
            db.execute(q.UPDATE_USER_PASSWORD, {"id": user["id"], "password_hash": _hasher.hash(password)})
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(store: Store, user_id: int, hours: int) -> tuple[str, str]:
    """Create a session; returns (session token for the cookie, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = datetime.now(timezone.utc) + timedelta(hours=hours)
    with store.write() as db:
        db.execute(q.DELETE_EXPIRED_SESSIONS, {"now": now()})
        db.execute(q.INSERT_SESSION, {"token_hash": _digest(token), "user_id": user_id, "csrf_token": csrf,
                                      "expires_at": expires.isoformat(timespec="microseconds"), "now": now()})
    return token, csrf


def session_user(store: Store, token: str | None) -> dict | None:
    """The live session's user (with its csrf_token), or None."""
    if not token:
        return None
    return store.query_one(q.GET_SESSION_USER, {"token_hash": _digest(token), "now": now()})


def end_session(store: Store, token: str | None) -> None:
    """Revoke the session: the cookie no longer works anywhere."""
    if token:
        with store.write() as db:
            db.execute(q.DELETE_SESSION, {"token_hash": _digest(token)})


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of the session's CSRF token with the one sent (as bytes:
    compare_digest refuses a str with non-ASCII characters, which anyone can send)."""
    return bool(expected and given and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")))


class LoginThrottle:
    """Failed logins counted per address and per account. The first few are free (a typo
    happens); after that each further failure makes the next attempt wait twice as long,
    up to 15 minutes. A success clears its account and address. Kept in memory: a restart
    forgets, which costs a guesser nothing they could not get from waiting."""

    FREE_PER_ACCOUNT = 5
    FREE_PER_ADDRESS = 10
    FIRST_WAIT_S = 2.0
    LONGEST_WAIT_S = 900.0

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}      # key -> (failures, time of the last)
        self._lock = threading.Lock()

    def _wait(self, key: str, free: int) -> float:
        count, last = self._failures.get(key, (0, 0.0))
        if count < free:
            return 0.0
        delay = min(self.LONGEST_WAIT_S, self.FIRST_WAIT_S * 2 ** (count - free))
        return max(0.0, last + delay - self._clock())

    def wait_seconds(self, address: str, username: str) -> float:
        """How long this address or account must still wait before another try (0: go)."""
        with self._lock:
            return max(self._wait(f"addr:{address}", self.FREE_PER_ADDRESS),
                       self._wait(f"user:{username.lower()}", self.FREE_PER_ACCOUNT))

    def failed(self, address: str, username: str) -> None:
        """Count a failed login for both the address and the account."""
        moment = self._clock()
        with self._lock:
            for key in (f"addr:{address}", f"user:{username.lower()}"):
                count, _ = self._failures.get(key, (0, 0.0))
                self._failures[key] = (count + 1, moment)
            if len(self._failures) > 10_000:
                self._failures = {k: v for k, v in self._failures.items() if moment - v[1] < self.LONGEST_WAIT_S}

    def succeeded(self, address: str, username: str) -> None:
        """A good login clears the counts of its address and account."""
        with self._lock:
            self._failures.pop(f"addr:{address}", None)
            self._failures.pop(f"user:{username.lower()}", None)
