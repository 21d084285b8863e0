"""The in-store kiosk on the customer app: its start page, pairing a screen, starting over
between customers, and the handoff of a design to the customer's phone.

A paired kiosk carries a long random secret in an HttpOnly, SameSite=strict cookie; the
Guard (web.app) looks it up on every request, so a revoked kiosk is unpaired from its
next request on, its requests have their own rate-limit bucket, and the access log names
it. Pages a kiosk asks for get the kiosk chrome (base.html includes kiosk/_chrome.html):
the idle countdown, Start over, and on a design the handoff QR code.

The QR codes carry the customer site's address to a phone: public_url when the store set
it, else the address the kiosk itself asked for. A kiosk on the appliance's own loopback
(the kiosk unit opens 127.0.0.1) has no address a phone can open, so it shows no code.
"""

from __future__ import annotations

import ipaddress

import segno
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.requests import cookie_parser

from appliance.config import Settings
from appliance.errors import Conflict, Invalid, NotFound
from appliance.jewelry import catalog
from appliance.storage.store import Store
from appliance.studio import kiosks, rounds
from web.responses import is_htmx, render, store_of

pages = APIRouter(include_in_schema=False)

COOKIE = "diamra_kiosk"
# Chromium keeps a cookie at most 400 days; every visit to the start page renews it.
COOKIE_SECONDS = 400 * 24 * 3600
# The "Still there?" countdown and the order confirmation's stay, never longer than the
# idle time itself (so a test or a busy store can shorten all three with one setting).
COUNTDOWN_SECONDS = 20
AFTER_ORDER_SECONDS = 15
# Beyond the idle time and the countdown, the silence after which the server ends a visit
# itself: the screen's own reset should have come by then, and the visit's last request
# is written down only every SEEN_EVERY_SECONDS, so the margin covers that lag too.
FORGET_MARGIN_SECONDS = kiosks.SEEN_EVERY_SECONDS + 15


def forget_after_seconds(settings: Settings) -> int:
    """How long a kiosk may stay silent before its next request starts a new visit."""
    idle = settings.kiosk_idle_seconds
    return idle + min(COUNTDOWN_SECONDS, idle) + FORGET_MARGIN_SECONDS


def identify(store: Store, settings: Settings):
    """For the Guard: the paired kiosk a request's Cookie header names, or None; a
    kiosk silent for longer than its visit lasts gets a new visit first."""
    forget_after = forget_after_seconds(settings)

    def kiosk_of(cookie_header: str | None):
        if not cookie_header or COOKIE not in cookie_header:
            return None
        cookies = cookie_parser(cookie_header)
        return kiosks.seen(store, cookies.get(f"__Secure-{COOKIE}") or cookies.get(COOKIE), forget_after=forget_after)
    return kiosk_of


def kiosk_of(request: Request) -> kiosks.Kiosk | None:
    """The paired kiosk asking (the Guard identified it), or None."""
    return getattr(request.state, "kiosk", None)


def chrome(request: Request) -> dict:
    """What the kiosk chrome needs on every page: the idle and countdown times."""
    idle = request.app.state.settings.kiosk_idle_seconds
    return {"idle_seconds": idle, "countdown_seconds": min(COUNTDOWN_SECONDS, idle),
            "after_order_seconds": min(AFTER_ORDER_SECONDS, idle)}


def is_loopback(host: str | None) -> bool:
    """Whether a host name or address names this machine only (localhost, 127.0.0.0/8,
    ::1, or the unspecified address): nothing a phone could open."""
    host = (host or "").strip().strip("[]").rstrip(".").lower()
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def phone_base_url(request: Request) -> str | None:
    """The customer site's address as a phone opens it: public_url when the store set
    it, else this request's, or None when that is a loopback address."""
    public_url = request.app.state.settings.public_url.rstrip("/")
    if public_url:
        return public_url
    return None if is_loopback(request.url.hostname) else str(request.base_url).rstrip("/")


def qr_svg(url: str) -> str:
    """An inline SVG QR code of `url` (no script, no style: the page's CSP holds)."""
    return segno.make(url, error="m").svg_inline(scale=4, dark="#000", light="#fff", svgclass="kiosk-qr")


def handoff(request: Request, design_id: str) -> dict | None:
    """The design's address for the customer's phone, and its QR code, or None where no
    phone could open it. The design URL is the capability to see, change and order that
    design, and nothing else."""
    base = phone_base_url(request)
    if base is None:
        return None
    url = f"{base}/d/{design_id}"
    return {"url": url, "qr": qr_svg(url)}


def order_link(request: Request, token: str) -> dict | None:
    """The order's private link (to follow it from a phone) and its QR code, or None
    where no phone could open it."""
    base = phone_base_url(request)
    if base is None:
        return None
    url = f"{base}/o/{token}"
    return {"url": url, "qr": qr_svg(url)}


def _set_cookie(request: Request, response: Response, secret: str) -> None:
    secure = request.app.state.settings.secure_cookies or request.state.scheme == "https"
    response.set_cookie(f"__Secure-{COOKIE}" if secure else COOKIE, secret, max_age=COOKIE_SECONDS, path="/",
                        httponly=True, samesite="strict", secure=secure)


def _secret(request: Request) -> str | None:
    return request.cookies.get(f"__Secure-{COOKIE}") or request.cookies.get(COOKIE)


def _unpaired(request: Request, message: str | None = None, status_code: int = 403, error: str | None = None):
    return render(request, "kiosk/unpaired.html", {"message": message, "error": error, "link": ""},
                  status_code=status_code)


def _start_context(request: Request, kiosk: kiosks.Kiosk, **extra) -> dict:
    return {"kiosk_start": True, "description": "", "piece_type": "", "error": None, "error_field": None,
            "pieces": catalog.PIECE_TYPES, "visit_designs": kiosks.visit_designs(store_of(request), kiosk),
            "examples": EXAMPLES, **extra}


EXAMPLES = (
    "Rose gold ring with a 1.5 carat oval lab diamond and tiny diamonds on the band",
    "Sterling silver pendant with an 8x6 mm oval sapphire on an 18 inch chain",
    "Platinum halo engagement ring, 2 carat cushion diamond, size 6 1/2",
)


# ---------------------------------------------------------------- pages

@pages.get("/kiosk")
def kiosk_page(request: Request):
    """The kiosk's start page: the store's name and one box to describe a piece."""
    kiosk = kiosk_of(request)
    if kiosk is None:
        return _unpaired(request)
    response = render(request, "kiosk/start.html", _start_context(request, kiosk))
    _set_cookie(request, response, _secret(request))        # renewed: a kiosk in use stays paired
    return response


@pages.post("/kiosk/designs")
async def kiosk_start_design(request: Request):
    """Start a design from the kiosk (the same use case as the studio's home page); the
    kiosk's current customer is noted as its maker, and the page moves on to the design
    with location.replace (HX-Redirect, handled by kiosk.js), so history keeps nothing."""
    kiosk = kiosk_of(request)
    if kiosk is None:
        return _unpaired(request)
    form = await request.form()
    description, piece_type = str(form.get("description", ""))[:10_000], str(form.get("piece_type", "") or "")
    store = store_of(request)
    try:
        if piece_type and piece_type not in catalog.PIECE_TYPES:
            raise Invalid("piece_type", "Choose ring, pendant, earrings, bracelet or necklace.")
        started = rounds.start_design(store, description, piece_type or None,
                                      max_waiting=request.app.state.settings.max_queued_per_design)
    except (Invalid, Conflict) as exc:
        context = _start_context(request, kiosk, description=description[:2000], piece_type=piece_type,
                                 error=getattr(exc, "message", str(exc)), error_field=getattr(exc, "field", None))
        template = "kiosk/_start_form.html" if is_htmx(request) else "kiosk/start.html"
        return render(request, template, context, status_code=409 if isinstance(exc, Conflict) else 422)
    kiosks.note_design(store, kiosk, started.design.id)
    url = f"/d/{started.design.id}"
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@pages.get("/kiosk/pair/{token}")
def pair_page(request: Request, token: str):
    """Opening the one-time pairing link asks whether to pair this screen; only its
    button (a POST) spends the link, so a chat's link preview or a phone scanning the
    desk's code spends nothing. A used, expired or revoked link is refused with a page
    that says why."""
    try:
        name = kiosks.pairable(store_of(request), token)
    except Conflict as exc:
        return _unpaired(request, str(exc), status_code=409)
    except NotFound as exc:
        return _unpaired(request, str(exc), status_code=404)
    return render(request, "kiosk/pair.html", {"name": name, "token": token})


@pages.post("/kiosk/pair")
async def pair_form(request: Request):
    """The unpaired page's form: the pairing link (or its last part) typed or pasted, for
    a kiosk whose browser has no address bar."""
    form = await request.form()
    link = str(form.get("link", "")).strip()[:500]
    token = link.rstrip("/").rsplit("/", 1)[-1]
    if not token:
        return render(request, "kiosk/unpaired.html", {"message": None, "link": link, "error":
                      "Type or paste the pairing link the store's desk showed."}, status_code=422)
    return _pair(request, token)


def _pair(request: Request, token: str):
    try:
        _, secret = kiosks.pair(store_of(request), token)
    except Conflict as exc:
        return _unpaired(request, str(exc), status_code=409)
    except NotFound as exc:
        return _unpaired(request, str(exc), status_code=404)
    response = RedirectResponse("/kiosk", status_code=303)
    _set_cookie(request, response, secret)
    return response


@pages.post("/kiosk/reset")
def start_over(request: Request):
    """End the kiosk's current customer: the server forgets their designs (a new anonymous
    visit), the browser is told to drop its cache and storage, and every cookie the
    request carried but the kiosk's own is expired. kiosk.js then clears what it can see
    and replaces the page with /kiosk."""
    kiosk = kiosk_of(request)
    if kiosk is None:
        return _unpaired(request)
    kiosks.start_over(store_of(request), kiosk)
    response = Response(status_code=204, headers={"Clear-Site-Data": '"cache", "storage"'})
    for name in request.cookies:
        if name not in (COOKIE, f"__Secure-{COOKIE}"):
            response.delete_cookie(name, path="/")
    return response
