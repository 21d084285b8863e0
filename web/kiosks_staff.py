"""The staff app's Kiosks page and routes (admins): add an in-store kiosk and see its
one-time pairing link (and a QR code of it) once, list the kiosks, revoke one. Every
change is in the audit log (appliance.studio.kiosks writes it with the change)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from appliance.errors import Conflict, Invalid, NotFound
from appliance.studio import kiosks
from web.kiosk import qr_svg
from web.people import admin_reader, admin_writer
from web.responses import render, store_of
from web.staff import PREFIX

pages = APIRouter(prefix=PREFIX, include_in_schema=False)
api = APIRouter(prefix=PREFIX + "/api/v1", tags=["staff"])


def customer_base_url(request: Request) -> str:
    """The customer site as a kiosk reaches it: public_url when set, else this host on the
    customer app's port (the staff app has its own port)."""
    settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    url = request.url.replace(scheme=request.state.scheme, port=settings.customer_port, path="", query="",
                              fragment="")
    return str(url).rstrip("/")


def _context(request: Request, user: dict, **extra) -> dict:
    # Without public_url a kiosk on the appliance's loopback (as the kiosk unit opens it)
    # has no address a phone can open, so it shows no QR codes: the page says so.
    return {"user": user, "kiosks": kiosks.listing(store_of(request)), "error": None, "error_field": None,
            "added": None, "name": "", "public_url_unset": not request.app.state.settings.public_url, **extra}


# ---------------------------------------------------------------- pages

@pages.get("/kiosks")
def kiosks_page(request: Request, user: dict = Depends(admin_reader)):
    return render(request, "staff/kiosks.html", _context(request, user))


@pages.post("/kiosks")
async def kiosks_change(request: Request, user: dict = Depends(admin_writer)):
    """Add a kiosk (the page shows its pairing link once) or revoke one."""
    form = await request.form()
    store, action, name = store_of(request), str(form.get("action") or ""), str(form.get("name") or "")[:200]
    try:
        if action == "add":
            added = kiosks.add(store, name, actor=user["username"])
            url = kiosks.pairing_url(customer_base_url(request), added.pairing_token)
            shown = {"name": added.name, "url": url, "qr": qr_svg(url), "expires_at": added.expires_at}
            return render(request, "staff/kiosks.html", _context(request, user, added=shown))
        if action == "revoke":
            kiosks.revoke(store, name, actor=user["username"])
        else:
            raise Invalid("action", "Choose add or revoke.")
    except (Invalid, Conflict, NotFound) as exc:
        context = _context(request, user, error=getattr(exc, "message", str(exc)),
                           error_field=getattr(exc, "field", "name"), name=name)
        return render(request, "staff/kiosks.html", context, status_code=404 if isinstance(exc, NotFound) else 422)
    return RedirectResponse(f"{PREFIX}/kiosks", status_code=303)


# ---------------------------------------------------------------- JSON API

class KioskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., max_length=40)


@api.get("/kiosks")
def api_kiosks(request: Request, user: dict = Depends(admin_reader)):
    """The store's kiosks and their state (admins only)."""
    return {"kiosks": [{k: row[k] for k in ("name", "state", "created_at", "created_by", "paired_at", "revoked_at")}
                       for row in kiosks.listing(store_of(request))]}


@api.post("/kiosks", status_code=201)
def api_add_kiosk(request: Request, body: KioskIn, user: dict = Depends(admin_writer)):
    """Add a kiosk; the answer carries its one-time pairing link (shown this once)."""
    added = kiosks.add(store_of(request), body.name, actor=user["username"])
    return {"name": added.name, "pairing_url": kiosks.pairing_url(customer_base_url(request), added.pairing_token),
            "expires_at": added.expires_at}


@api.delete("/kiosks/{name}")
def api_revoke_kiosk(request: Request, name: str, user: dict = Depends(admin_writer)):
    """Revoke a kiosk: its screen is unpaired from its next request on."""
    kiosks.revoke(store_of(request), name, actor=user["username"])
    return {"revoked": name}
