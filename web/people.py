"""The staff app's people pages and routes: the admins' People page (add staff, change a
role, disable or enable an account), everyone's own Account page (password, sessions),
and the audit log (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from appliance.errors import Conflict, Invalid, NotFound
from appliance.ops import auth, people
from web.responses import render, store_of
from web.staff import PREFIX, staff_user, staff_writer

pages = APIRouter(prefix=PREFIX, include_in_schema=False)
api = APIRouter(prefix=PREFIX + "/api/v1", tags=["staff"])


def admin_reader(user: dict = Depends(staff_user)) -> dict:
    if user["role"] != "admin":
        raise HTTPException(403, "Only an admin can see this.")
    return user


def admin_writer(user: dict = Depends(staff_writer)) -> dict:
    if user["role"] != "admin":
        raise HTTPException(403, "Only an admin can change this.")
    return user


def _people_context(request: Request, user: dict, **extra) -> dict:
    return {"user": user, "people": auth.list_users(store_of(request)), "roles": auth.ROLES, "error": None,
            "error_field": None, "done": None, **extra}


def _account_context(request: Request, user: dict, **extra) -> dict:
    return {"user": user, "sessions": people.sessions(store_of(request), user["user_id"], user["token_hash"]),
            "error": None, "error_field": None, "done": None, **extra}


def _failed(exc: Exception) -> dict:
    return {"error": getattr(exc, "message", str(exc)), "error_field": getattr(exc, "field", None)}


# ---------------------------------------------------------------- pages

@pages.get("/people")
def people_page(request: Request, user: dict = Depends(admin_reader)):
    return render(request, "staff/people.html", _people_context(request, user))


@pages.post("/people")
async def people_change(request: Request, user: dict = Depends(admin_writer)):
    """One change from the People page: add, role, disable or enable."""
    form = await request.form()
    store, action = store_of(request), str(form.get("action") or "")
    name = str(form.get("username") or "")
    try:
        if action == "add":
            people.add(store, name, str(form.get("password") or ""), str(form.get("role") or ""),
                       actor=user["username"])
        elif action == "role":
            people.set_role(store, name, str(form.get("role") or ""), actor=user["username"])
        elif action in ("disable", "enable"):
            people.set_disabled(store, name, action == "disable", actor=user["username"])
        else:
            raise Invalid("action", "Choose add, role, disable or enable.")
    except (Invalid, Conflict, NotFound) as exc:
        return render(request, "staff/people.html", _people_context(request, user, **_failed(exc)), status_code=422)
    return RedirectResponse(f"{PREFIX}/people", status_code=303)


@pages.get("/account")
def account_page(request: Request, user: dict = Depends(staff_user)):
    return render(request, "staff/account.html", _account_context(request, user))


@pages.post("/account/password")
async def account_password(request: Request, user: dict = Depends(staff_writer)):
    form = await request.form()
    try:
        people.change_password(store_of(request), user["user_id"], user["username"],
                               str(form.get("current_password") or ""), str(form.get("new_password") or ""),
                               keep_session=user["token_hash"])
    except Invalid as exc:
        return render(request, "staff/account.html", _account_context(request, user, **_failed(exc)), status_code=422)
    return render(request, "staff/account.html",
                  _account_context(request, user, done="Your password is changed; your other sessions have ended."))


@pages.post("/account/sessions/{session_id}/end")
def account_end_session(request: Request, session_id: str, user: dict = Depends(staff_writer)):
    people.end_session(store_of(request), user["user_id"], user["username"], session_id)
    return RedirectResponse(f"{PREFIX}/account", status_code=303)


@pages.get("/audit")
def audit_page(request: Request, user: dict = Depends(admin_reader)):
    return render(request, "staff/audit.html", {"user": user, "entries": people.recent(store_of(request))})


# ---------------------------------------------------------------- JSON API

class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(..., max_length=40)
    password: str = Field(..., max_length=200)
    role: str = Field("jeweler", max_length=20)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(None, max_length=20)
    disabled: bool | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(..., max_length=200)
    new_password: str = Field(..., max_length=200)


@api.get("/users")
def api_users(request: Request, user: dict = Depends(admin_reader)):
    """The staff accounts (admins only)."""
    return {"users": auth.list_users(store_of(request))}


@api.post("/users", status_code=201)
def api_add_user(request: Request, body: UserIn, user: dict = Depends(admin_writer)):
    """Add a staff account (admins only)."""
    people.add(store_of(request), body.username, body.password, body.role, actor=user["username"])
    return {"username": body.username, "role": body.role}


@api.patch("/users/{username}")
def api_change_user(request: Request, username: str, body: UserChange, user: dict = Depends(admin_writer)):
    """Change a staff account's role or disable/enable it (admins only)."""
    store = store_of(request)
    person = people.get_person(store, username)
    if body.role is not None:
        people.set_role(store, person["username"], body.role, actor=user["username"])
    if body.disabled is not None:
        people.set_disabled(store, person["username"], body.disabled, actor=user["username"])
    return people.get_person(store, person["username"])


@api.post("/account/password")
def api_password(request: Request, body: PasswordIn, user: dict = Depends(staff_writer)):
    """Change your own password; your other sessions end."""
    people.change_password(store_of(request), user["user_id"], user["username"], body.current_password,
                           body.new_password, keep_session=user["token_hash"])
    return {"changed": True}


@api.get("/account/sessions")
def api_sessions(request: Request, user: dict = Depends(staff_user)):
    """Your live sessions (the current one marked)."""
    return {"sessions": people.sessions(store_of(request), user["user_id"], user["token_hash"])}


@api.delete("/account/sessions/{session_id}")
def api_end_session(request: Request, session_id: str, user: dict = Depends(staff_writer)):
    """End one of your sessions (it stops working at once)."""
    people.end_session(store_of(request), user["user_id"], user["username"], session_id)
    return {"ended": session_id}


@api.get("/audit")
def api_audit(request: Request, user: dict = Depends(admin_reader)):
    """Who changed what on the desk, newest first (admins only)."""
    return {"entries": people.recent(store_of(request))}

