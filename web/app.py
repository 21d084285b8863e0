"""The two FastAPI apps and what they share: templates, static files, security headers,
body-size limits and the access log. Assembly only: routes live in customer, staff and
price_book, the shared answers (render, errors) in web.responses."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import Headers, MutableHeaders

from appliance.config import Settings
from appliance.jewelry.pricing import format_money as money
from appliance.ops import auth
from appliance.ops.mail import SmtpSettings
from appliance.storage.store import Store
from appliance.studio.notices import Notices
from web import (bench, branding, clients, customer, fleet, following, guide, kiosk, kiosks_staff,
                 materials, people, price_book, staff, styles_staff, versions, workers_staff)
from web.responses import install_error_handlers

HERE = Path(__file__).parent
access_log = logging.getLogger("diamra.access")

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")

HTMX_CONFIG = json.dumps({
    "includeIndicatorStyles": False,
    "allowEval": False,
    "allowScriptTags": False,
    "selfRequestsOnly": True,
    # Settling copies these attributes between old and new elements; copying `style`
    # would be an inline style, which the Content-Security-Policy forbids.
    "attributesToSettle": ["class", "width", "height"],
    # Swap 422 responses too: they carry the form with the message beside the field.
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "422", "swap": True},
        {"code": "409", "swap": True},
        {"code": "[45]..", "swap": False, "error": True},
    ],
})


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["money"] = money
    templates.env.globals["htmx_config"] = HTMX_CONFIG
    templates.env.globals["fact_anchor"] = materials.field_anchor
    return templates


# Routes that take a picture get room for one (the picture itself is checked in
# appliance.studio.uploads); everything else is small JSON or a form.
UPLOAD_PATHS = ("/references", "/masks", "/photo", "/attachments")
UPLOAD_BODY_BYTES = 11 * 1024 * 1024

# Design, job, image and order ids are capabilities: a log shows only their first six
# characters (any path segment of 16 or more URL-safe characters is one).
_CAPABILITY = re.compile(r"/([A-Za-z0-9_-]{6})[A-Za-z0-9_-]{10,}")


class Guard:
    """Every request, as plain ASGI (no per-request task or stream wrapping, which
    Starlette's BaseHTTPMiddleware would add to the live price's every update): who is
    asking behind the store's proxy, the rate limit, the declared size, the security
    headers, and one access log line."""

    def __init__(self, app, settings: Settings, limit_writes: bool, limit_paths: tuple[str, ...], kiosk_of=None,
                 limit_for=None):
        self.app = app
        self.limit_for = limit_for or _body_limit(settings)
        self.settings = settings
        self.limit_writes = limit_writes
        self.limit_paths = limit_paths
        self.proxies = clients.parse_networks(settings.trusted_proxies)
        self.limiter = clients.RateLimiter(settings.rate_limit_per_minute)
        # A paired kiosk (web.kiosk) serves many customers from one address: it is named
        # in the log and has its own, larger bucket instead of its address's. Looking it up
        # also ends its visit when it was silent too long (web.kiosk.identify).
        self.kiosk_of = kiosk_of
        self.kiosk_limiter = clients.RateLimiter(settings.kiosk_rate_limit_per_minute)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        peer = scope["client"][0] if scope.get("client") else "unknown"
        client_ip, scheme = clients.client_of(peer, scope["scheme"], Headers(scope=scope), self.proxies)
        method, path = scope["method"], scope["path"]
        kiosk = None
        if self.kiosk_of is not None and not path.startswith("/static/"):
            kiosk = self.kiosk_of(Headers(scope=scope).get("cookie"))
        scope.setdefault("state", {}).update(client_ip=client_ip, scheme=scheme, kiosk=kiosk)
        who = f" kiosk={kiosk.name}" if kiosk else ""
        limited = (self.limit_writes and method not in ("GET", "HEAD", "OPTIONS")) or \
            (method == "POST" and path in self.limit_paths) or path == "/healthz"
        allowed = not limited or (self.kiosk_limiter.allow(f"kiosk:{kiosk.id}") if kiosk else
                                  self.limiter.allow(client_ip))
        if not allowed:
            access_log.warning("%s %s %s 429 rate limited%s", client_ip, method, _CAPABILITY.sub(r"/\1…", path), who)
            answer = JSONResponse({"detail": "Too many requests from your connection; please wait a minute."},
                                  status_code=429, headers={"Retry-After": "60"})
            return await answer(scope, receive, send)
        length = Headers(scope=scope).get("content-length")
        limit = self.limit_for(path)
        if length and length.isdigit() and int(length) > limit:
            answer = JSONResponse({"detail": f"Request too large (limit {limit} bytes)."}, status_code=413)
            return await answer(scope, receive, send)
        static = path.startswith("/static/")
        logged = static

        def log_line(status: int) -> None:
            # One line per request, with the client as the proxy reported it (never a
            # customer's private link in full), written before the answer leaves.
            nonlocal logged
            logged = True
            access_log.info("%s %s %s %s%s", client_ip, method, _CAPABILITY.sub(r"/\1…", path), status, who)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:     # a download may bring a stricter one
                    headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                # Order and design URLs are capabilities: never leak them in a Referer.
                headers["Referrer-Policy"] = "no-referrer"
                if scheme == "https":
                    # Reached over HTTPS (directly or through the store's trusted proxy): stay there.
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                if not static and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if not logged:
                    log_line(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if not logged:
                log_line(500)             # no answer went out: the error handler's 500


class BodyLimit:
    """Counts a request's body as it streams in and answers 413 the moment it passes the
    route's limit, chunked or not: nothing larger is ever held in memory (the
    Content-Length check in `guard` only answers early when a client declares one). The
    app then sees the client gone, and whatever it would have answered is dropped."""

    def __init__(self, app, limit_for):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, seen, started, refused = self.limit_for(scope["path"]), 0, False, False

        async def guarded_send(message):
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def counted():
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        body = json.dumps({"detail": f"Request too large (limit {limit} bytes)."}).encode()
                        await send({"type": "http.response.start", "status": 413, "headers": [
                            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
                        await send({"type": "http.response.body", "body": body})
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not refused:
                raise


def _body_limit(settings: Settings, large_bodies: tuple[tuple[re.Pattern, int], ...] = ()):
    """The most a request to a path may send: an app's own large routes (a style's photos
    on the staff app), then the picture routes, then the store's max_body_bytes."""
    def limit_for(path: str) -> int:
        for pattern, limit in large_bodies:
            if pattern.match(path):
                return limit
        return UPLOAD_BODY_BYTES if path.endswith(UPLOAD_PATHS) else settings.max_body_bytes
    return limit_for


def _base_app(settings: Settings, store: Store, title: str, description: str, *, limit_writes: bool,
              limit_paths: tuple[str, ...] = (), openapi_url: str = "/openapi.json", kiosk_of=None,
              large_bodies: tuple[tuple[re.Pattern, int], ...] = ()) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0", docs_url=None, redoc_url=None,
                  openapi_url=openapi_url)
    app.state.settings = settings
    app.state.store = store
    app.state.notices = Notices.from_settings(settings)
    app.state.mail_sender = None          # set by build_apps when the store sends mail
    app.state.templates = _templates()
    app.state.branding = branding.Branding.from_settings(settings)
    app.state.templates.env.globals["branding"] = app.state.branding
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(branding.pages)
    limit_for = _body_limit(settings, large_bodies)
    app.add_middleware(Guard, settings=settings, limit_writes=limit_writes, limit_paths=limit_paths, kiosk_of=kiosk_of,
                       limit_for=limit_for)

    @app.get("/healthz", tags=["health"])
    def healthz():
        """Whether the appliance can serve customers: {"ok": true} (200) or {"ok": false}
        (503). The detail is for staff (`GET /staff/api/v1/health` on the staff app) and
        `diamra status`; this answer names no host, path, process or disk."""
        from appliance.ops import health
        result = health.check(settings, store, probe_write=False)
        return JSONResponse({"ok": result.ok}, status_code=200 if result.ok else 503)

    app.add_middleware(BodyLimit, limit_for=limit_for)
    install_error_handlers(app)
    return app


def create_customer_app(settings: Settings, store: Store) -> FastAPI:
    """The customer-facing studio (the only app a tunnel should expose)."""
    app = _base_app(settings, store, "Diamra customer API",
                    "Design a piece, see concepts, get a quote and place an order.", limit_writes=True,
                    kiosk_of=kiosk.identify(store, settings))
    app.state.templates.env.globals.update(kiosk_chrome=kiosk.chrome, kiosk_handoff=kiosk.handoff,
                                           kiosk_order_link=kiosk.order_link)
    # "Find my order": a few asks an hour per connection and per address. A paired kiosk
    # is one connection for every customer in the store: it counts as six.
    app.state.find_limits = {"client": clients.RateLimiter.per_hour(10), "kiosk": clients.RateLimiter.per_hour(60),
                             "address": clients.RateLimiter.per_hour(3)}
    # The API first: the live price's every update is matched against fewer routes.
    app.include_router(customer.api)
    app.include_router(versions.api)
    app.include_router(following.api)
    app.include_router(customer.pages)
    app.include_router(versions.pages)
    app.include_router(guide.pages)
    app.include_router(following.pages)
    app.include_router(kiosk.pages)
    return app


def create_staff_app(settings: Settings, store: Store) -> FastAPI:
    """The jeweler's dashboard (LAN only; every route but login requires a session)."""
    app = _base_app(settings, store, "Diamra staff API", "Orders, messages and the price book, for the store's staff.",
                    limit_writes=False, limit_paths=(f"{staff.PREFIX}/login", f"{staff.api.prefix}/session"),
                    openapi_url=f"{staff.PREFIX}/openapi.json",
                    large_bodies=((styles_staff.PHOTOS_PATH, styles_staff.PHOTOS_BODY_BYTES),
                                  (fleet.FINISH_PATH, fleet.FINISH_BODY_BYTES)))
    app.state.login_throttle = auth.LoginThrottle()
    app.state.smtp = SmtpSettings.from_settings(settings)
    app.include_router(fleet.api)
    app.include_router(bench.pages)
    app.include_router(staff.pages)
    app.include_router(price_book.pages)
    app.include_router(people.pages)
    app.include_router(kiosks_staff.pages)
    app.include_router(styles_staff.pages)
    app.include_router(staff.api)
    app.include_router(bench.api)
    app.include_router(people.api)
    app.include_router(kiosks_staff.api)
    app.include_router(styles_staff.api)
    app.include_router(workers_staff.router)

    @app.api_route("/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "DELETE"], include_in_schema=False)
    def under_staff(request: Request, rest: str):
        """Everything staff lives under /staff (so its cookies stay off the customer app):
        an address without it is sent there, method and body kept (308)."""
        if rest.startswith(staff.PREFIX.strip("/") + "/"):
            raise HTTPException(404, "Not found.")
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{staff.PREFIX}/{rest}{query}", status_code=308)
    return app
