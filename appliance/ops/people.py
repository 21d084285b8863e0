"""The store's people on the dashboard: admins add staff, change roles and disable
accounts (disabling ends that person's sessions at once); everyone changes their own
password and sees and ends their own sessions. Every change is written to the audit log
(append-only) with who made it.

Roles: an admin runs the store (people, the price book, undoing a cancellation, cost in
exports); a jeweler works the orders. The last active admin cannot be demoted or
disabled, so the store never locks itself out.
"""

from __future__ import annotations

from appliance.errors import Conflict, Invalid, NotFound
from appliance.ops import auth
from appliance.storage import store as q
from appliance.storage.store import Store, now


def record(store: Store, actor: str, action: str, target: str | None = None, detail: str | None = None) -> None:
    """One line in the audit log."""
    with store.write(durable=True) as db:
        db.execute(q.INSERT_AUDIT, {"now": now(), "actor": actor, "action": action, "target": target,
                                    "detail": detail})


def recent(store: Store, limit: int = 200) -> list[dict]:
    return store.query(q.RECENT_AUDIT, {"limit": limit})


def _user(store: Store, username: str) -> dict:
    user = store.query_one(q.GET_USER_BY_NAME, {"username": username})
    if user is None:
        raise NotFound("No staff account with that name.")
    return user


def get_person(store: Store, username: str) -> dict:
    """A staff account as the desk shows it (no password hash), or NotFound."""
    user = _user(store, username)
    return {k: user[k] for k in ("username", "role", "disabled", "created_at")}


def add(store: Store, username: str, password: str, role: str, *, actor: str) -> None:
    auth.create_user(store, username, password, role)
    record(store, actor, "user added", username, f"role {role}")


def _keep_an_admin(store: Store, user: dict) -> None:
    if user["role"] == "admin" and not user["disabled"] and \
            store.query_one(q.COUNT_ACTIVE_ADMINS)["n"] <= 1:
        raise Conflict("This is the store's only active admin; make someone else an admin first.")


def set_role(store: Store, username: str, role: str, *, actor: str) -> None:
    if role not in auth.ROLES:
        raise Invalid("role", f"Role must be one of: {', '.join(auth.ROLES)}.")
    user = _user(store, username)
    if user["role"] == role:
        return
    if role != "admin":
        _keep_an_admin(store, user)
    with store.write(durable=True) as db:
        db.execute(q.SET_USER_ROLE, {"username": user["username"], "role": role})
    record(store, actor, "role changed", user["username"], f"{user['role']} -> {role}")


def set_disabled(store: Store, username: str, disabled: bool, *, actor: str) -> None:
    """Disable (every session of theirs ends now) or enable an account."""
    user = _user(store, username)
    if bool(user["disabled"]) == disabled:
        return
    if disabled:
        _keep_an_admin(store, user)
    with store.write(durable=True) as db:
        db.execute(q.SET_USER_DISABLED, {"username": user["username"], "disabled": int(disabled)})
        if disabled:
            db.execute(q.DELETE_SESSIONS_OF_USER, {"user_id": user["id"], "keep": ""})
    record(store, actor, "account disabled" if disabled else "account enabled", user["username"])


def change_password(store: Store, user_id: int, username: str, current: str, new: str, *, keep_session: str) -> None:
    """Change one's own password (the current one is asked again); every other session of
    theirs ends, so a stolen one stops working."""
    if auth.authenticate(store, username, current) is None:
        raise Invalid("current_password", "That is not your current password.")
    if len(new or "") < auth.MIN_PASSWORD:
        raise Invalid("new_password", f"Use at least {auth.MIN_PASSWORD} characters.")
    if new == current:
        raise Invalid("new_password", "Choose a password different from the current one.")
    auth.set_password(store, user_id, new)
    with store.write(durable=True) as db:
        db.execute(q.DELETE_SESSIONS_OF_USER, {"user_id": user_id, "keep": keep_session})
    record(store, username, "password changed", username, "other sessions ended")


def sessions(store: Store, user_id: int, current_hash: str) -> list[dict]:
    """One's own live sessions (id = the start of the token's hash; the current one marked)."""
    rows = store.query(q.SESSIONS_OF_USER, {"user_id": user_id, "now": now()})
    return [{"id": r["token_hash"][:16], "created_at": r["created_at"], "expires_at": r["expires_at"],
             "current": r["token_hash"] == current_hash} for r in rows]


def end_session(store: Store, user_id: int, username: str, session_id: str) -> None:
    if len(session_id) != 16 or not all(c in "0123456789abcdef" for c in session_id):
        raise NotFound("No session with that id.")
    with store.write(durable=True) as db:
        ended = db.execute(q.DELETE_SESSION_OF_USER, {"user_id": user_id, "short": session_id}).rowcount
    if not ended:
        raise NotFound("No session with that id.")
    record(store, username, "session ended", username, session_id)

