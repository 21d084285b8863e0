"""How a route answers: a page or fragment rendered with the store's context, the app's
store, whether HTMX asked, and the one mapping from domain errors (and request
validation and HTTP errors) to responses, JSON for /api/ and a page otherwise. Route
modules and the app factory import this; it imports none of them."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from appliance.errors import Conflict, Invalid, NotFound
from appliance.storage.store import Store


def is_htmx(request: Request) -> bool:
    """Whether HTMX sent the request (it wants a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


# The one mapping from domain errors to HTTP: (status, page title).
DOMAIN_ERRORS = {NotFound: (404, "Not found"), Invalid: (422, "Please check"), Conflict: (409, "Not now")}


def render(request: Request, template: str, context: dict, status_code: int = 200, headers=None):
    """A template response with the store's name (and the kiosk asking, if one is)
    available to every page."""
    context.setdefault("store_name", request.app.state.settings.store_name)
    # A paired kiosk asking (web.kiosk): base.html adds the kiosk chrome.
    context.setdefault("kiosk", getattr(request.state, "kiosk", None))
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code,
                                                        headers=headers)


def picture(path, media_type: str, cache_control: str) -> FileResponse:
    """A stored picture; 404 when its file is gone (pruned, or lost from the disk)."""
    if not path.is_file():
        raise NotFound("That picture is no longer kept.")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": cache_control})


def notices_of(request: Request):
    """Who the order events' mails go to (mail off: nothing is queued)."""
    return request.app.state.notices


def mail_queued(request: Request) -> None:
    """After a commit that may have queued mail: the sender delivers it now, not at its
    next round."""
    sender = getattr(request.app.state, "mail_sender", None)
    if sender is not None:
        sender.wake()


def attachment_response(folder, attachment) -> FileResponse:
    """A file from the bench: a picture shown in the page, a PDF only ever downloaded
    (and sandboxed, should a browser open it anyway)."""
    path = folder / attachment.path
    if not path.is_file():
        raise NotFound("That file is no longer kept.")
    headers = {"Cache-Control": "private, max-age=3600"}
    if attachment.media_type == "application/pdf":
        headers["Content-Disposition"] = f'attachment; filename="{attachment.filename}"'
        headers["Content-Security-Policy"] = "sandbox"
    return FileResponse(path, media_type=attachment.media_type, headers=headers)


def store_of(request: Request) -> Store:
    """The app's store (opened once at startup)."""
    return request.app.state.store


def _error_body(field: str, message: str) -> dict:
    return {"detail": [{"loc": ["body", *field.split(".")], "field": field, "msg": message, "type": "value_error"}]}


def wants_json(request: Request) -> bool:
    """API routes answer in JSON; pages answer with a page."""
    return request.url.path.startswith(("/api/", "/staff/api/", "/staff/internal/"))


async def domain_error(request: Request, exc: Exception):
    """NotFound, Invalid, Conflict as 404, 422 (naming the field), 409."""
    status, title = DOMAIN_ERRORS[type(exc)]
    message = getattr(exc, "message", str(exc))
    if wants_json(request):
        body = _error_body(exc.field, message) if isinstance(exc, Invalid) else {"detail": message}
        return JSONResponse(body, status_code=status)
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


async def request_invalid(request: Request, exc: RequestValidationError):
    """A request body or parameter that does not validate: 422 with each field named."""
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        field = ".".join(p for p in loc if p not in ("body", "query", "path", "header"))
        details.append({"loc": loc, "field": field, "msg": err.get("msg", "").removeprefix("Value error, "),
                        "type": err.get("type", "value_error")})
    return JSONResponse({"detail": details}, status_code=422)


async def http_error(request: Request, exc: StarletteHTTPException):
    """An HTTP error raised by a route: JSON for the API (and for refused writes), a page otherwise."""
    if wants_json(request) or exc.status_code in (401, 403) and request.method != "GET":
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return render(request, "error.html", {"title": "Sorry", "message": exc.detail},
                  status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping on an app."""
    for error_type in DOMAIN_ERRORS:
        app.add_exception_handler(error_type, domain_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
