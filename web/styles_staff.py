"""The staff app's Our style pages and routes (admins): the style LoRAs the store has
installed (on or off, the default, their weight, removing one), and the styles it is
making from its own photos: add photos many at a time, confirm what each shows, train,
watch the loss fall, and compare the validation samples before and after. Every change
is in the audit log."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from appliance.config import parse_hours
from appliance.errors import Conflict, Invalid, NotFound
from appliance.ops import people
from appliance.ops.models import ModelError, ModelStore
from appliance.studio import jobs, styles, training_queue
from pipelines.prompts import caption
from web.people import admin_reader, admin_writer
from web.responses import DOMAIN_ERRORS, is_htmx, picture, render, store_of
from web.staff import PREFIX

pages = APIRouter(prefix=PREFIX, include_in_schema=False)
api = APIRouter(prefix=PREFIX + "/api/v1", tags=["staff"])

# A style's photos arrive many to a request, each up to styles.MAX_PHOTO_BYTES: this one
# route may send more than the app's usual body limit (web/app.py asks here).
PHOTOS_PATH = re.compile(rf"^{PREFIX}/styles/[^/]+/photos$")
PHOTOS_BODY_BYTES = 400 * 1024 * 1024
MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
CHART_POINTS = 300
GENERATOR_WORDS = {"sketch": "the sketch renderer"}


# ---------------------------------------------------------------- what the pages show

def models_of(request: Request) -> ModelStore:
    """The model manager of this data folder (the lock file is read afresh each time)."""
    settings = request.app.state.settings
    return ModelStore(settings.models_dir, settings.manifest_path)


def hours_words(training_hours: str) -> str:
    """When training may run, as the jeweler reads it."""
    windows = parse_hours(training_hours)
    if not windows:
        return "Trains whenever no customer is waiting."
    shown = [f"{start:%H:%M}-{'24:00' if end.second else f'{end:%H:%M}'}" for start, end in windows]
    joined = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    return f"Trains only {joined}, when no customer is waiting."


def training_place(request: Request) -> dict:
    """Whether a style can train on this appliance: the latest worker's generator, in words."""
    if request.app.state.settings.dispatcher == "celery":
        return {"ready": False, "words": "This shop's rounds are drawn by GPU workers through Celery "
                                          "(dispatcher = celery), and styles do not train on them yet: a queued "
                                          "style waits until the shop's own worker draws (dispatcher = sqlite)."}
    status = jobs.generator_status(store_of(request))
    if status is None:
        return {"ready": False, "words": "No generation worker has reported yet: a queued style waits until one "
                                          "runs with the SDXL base model."}
    if status["generator"] != "sdxl":
        drawn_with = GENERATOR_WORDS.get(status["generator"], f"the {status['generator']} generator")
        return {"ready": False, "words": f"Styles train on the SDXL base model, and this appliance draws with "
                                          f"{drawn_with} ({status['reason']}), so a queued style waits until "
                                          "the worker runs SDXL."}
    return {"ready": True, "words": "The worker draws with SDXL, so styles train here."}


@dataclass(frozen=True)
class PhotoView:
    photo: styles.Photo
    reading: str | None          # the spec's summary, when the line reads
    assumed: list[str]
    unreadable: str | None       # why the line does not read


def photo_view(photo: styles.Photo) -> PhotoView:
    try:
        spec, assumed = styles.read_line(photo.line)
    except Invalid as exc:
        return PhotoView(photo, None, [], exc.message)
    return PhotoView(photo, spec.summary(), assumed, None)


def downsample(points: list[tuple[int, float]], limit: int = CHART_POINTS) -> list[tuple[float, float]]:
    """At most `limit` points: each the mean loss of a run of steps, at the run's middle."""
    if len(points) <= limit:
        return points
    size = math.ceil(len(points) / limit)
    runs = [points[i:i + size] for i in range(0, len(points), size)]
    return [((run[0][0] + run[-1][0]) / 2, sum(loss for _, loss in run) / len(run)) for run in runs]


def loss_chart(points: list[tuple[int, float]]) -> dict | None:
    """The loss curve as an SVG polyline's coordinates, with its axis labels and a summary
    for screen readers; None before the first step."""
    if not points:
        return None
    shown = downsample(points)
    width, height, left, right, top, bottom = 640, 240, 64, 624, 14, 196
    first_step, last_step = points[0][0], points[-1][0]
    low, high = min(v for _, v in shown), max(v for _, v in shown)
    if high - low < 1e-9:
        low, high = low - 0.5 * abs(low or 1), high + 0.5 * abs(high or 1)
    span_x = max(last_step - first_step, 1)

    def at(step: float, loss: float) -> str:
        x = left + (step - first_step) / span_x * (right - left)
        y = bottom - (loss - low) / (high - low) * (bottom - top)
        return f"{x:.1f},{y:.1f}"

    first, last = points[0], points[-1]
    return {"width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
            "points": " ".join(at(s, v) for s, v in shown), "averaged": len(shown) < len(points),
            "low": f"{low:.3g}", "high": f"{high:.3g}", "first_step": first_step, "last_step": last_step,
            "label": f"Training loss over {len(points)} recorded steps: {first[1]:.4f} at step {first[0]}, "
                     f"{last[1]:.4f} at step {last[0]}."}


def sample_grid(style_id: str, found: dict[int, list[str]]) -> dict:
    """The validation samples as rows (one per prompt) and columns (without the style, then
    each checkpoint), each cell an image address or None."""
    steps = sorted(found)
    columns = [("Without the style" if step == 0 else f"Step {step:,}", step) for step in steps]
    rows = []
    for index, line in enumerate(training_queue.VALIDATION_LINES):
        cells = [f"{PREFIX}/styles/{style_id}/samples/{step}/{index}" if index < len(found[step]) else None
                 for step in steps]
        rows.append({"line": line, "cells": cells})
    return {"columns": columns, "rows": rows}


def _seen(style: styles.Style, found: dict) -> str:
    # What the page was drawn with: the progress poll reloads the page when it changes
    # (a checkpoint's samples arrived, or training ended), so its buttons and samples follow.
    return f"{style.status}-{len(found)}"


def _progress_context(request: Request, style: styles.Style) -> dict:
    found = styles.samples(store_of(request), style.id)
    percent = round(100 * style.step / style.steps) if style.steps else 0
    return {"style": style, "chart": loss_chart(styles.losses(store_of(request), style.id)),
            "percent": min(percent, 100), "seen": _seen(style, found),
            "live": style.status in ("queued", "training")}


def _styles_context(request: Request, user: dict, **extra) -> dict:
    store, settings = store_of(request), request.app.state.settings
    making = [{"style": s, "photos": len(styles.photos(store, s.id))} for s in styles.listing(store)]
    return {"user": user, "installed": models_of(request).styles(), "making": making,
            "place": training_place(request), "hours": hours_words(settings.training_hours),
            "form": {"name": "", "trigger": "", "steps": settings.training_steps},
            "error": None, "error_field": None, "error_style": None, **extra}


def _style_context(request: Request, user: dict, style_id: str, **extra) -> dict:
    store = store_of(request)
    style = styles.get(store, style_id)
    shown = [photo_view(p) for p in styles.photos(store, style_id)]
    installed = next((s for s in models_of(request).styles() if s.name == style.name), None)
    return {"user": user, "style": style, "photos": shown, "confirmed": sum(v.photo.confirmed for v in shown),
            "min_photos": styles.MIN_PHOTOS, "samples": sample_grid(style_id, styles.samples(store, style_id)),
            "installed": installed if style.status == "trained" else None, "place": training_place(request),
            "hours": hours_words(request.app.state.settings.training_hours),
            "added": [], "refused": [], "upload_error": None, "error": None, "error_field": None,
            "error_photo": None, "lines": {},
            **_progress_context(request, style), **extra}


def _failed(exc: Exception) -> dict:
    return {"error": getattr(exc, "message", str(exc)), "error_field": getattr(exc, "field", None)}


def _status_of(exc: Exception) -> int:
    return DOMAIN_ERRORS[type(exc)][0] if type(exc) in DOMAIN_ERRORS else 422


def _back(style_id: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/styles/{style_id}", status_code=303)


def _whole_number(form, field: str, message: str) -> int:
    raw = str(form.get(field) or "").strip().replace(",", "")
    if not re.fullmatch(r"\d{1,6}", raw):
        raise Invalid(field, message)
    return int(raw)


# ---------------------------------------------------------------- one use case, one function

def start_style(request: Request, user: dict, name: str, trigger: str, steps: int) -> styles.Style:
    """A new style collecting photos (its name may not be an installed style's)."""
    taken = {s.name for s in models_of(request).styles()}
    made = styles.create(store_of(request), name, trigger, steps, actor=user["username"], taken=taken)
    people.record(store_of(request), user["username"], "style started", made.name, f"{made.steps} steps")
    return made


def change_installed(request: Request, user: dict, name: str, action: str, weight: str = "") -> None:
    """One change to an installed style LoRA; ModelError and Invalid say what is wrong."""
    models = models_of(request)
    if action == "on":
        models.set_style(name, enabled=True)
    elif action == "off":
        models.set_style(name, enabled=False)
    elif action == "default":
        models.set_default_style(name)
    elif action == "no-default":
        models.set_default_style(None)
    elif action == "weight":
        try:
            value = float(weight)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not 0 < value <= 2:
            raise Invalid("weight", "A style weight is a number above 0 and at most 2 (1 = as trained).")
        models.set_style(name, weight=value)
    elif action == "remove":
        models.remove_style(name)
    else:
        raise Invalid("action", "Choose on, off, default, no-default, weight or remove.")
    detail = f"weight {weight}" if action == "weight" else action
    people.record(store_of(request), user["username"], "style LoRA changed", name, detail)


# ---------------------------------------------------------------- pages: all styles

@pages.get("/styles")
def styles_page(request: Request, user: dict = Depends(admin_reader)):
    return render(request, "staff/styles.html", _styles_context(request, user))


@pages.post("/styles")
async def styles_start(request: Request, user: dict = Depends(admin_writer)):
    """Start a new style; its page is where its photos go."""
    form = await request.form()
    shown = {"name": str(form.get("name") or "")[:80], "trigger": str(form.get("trigger") or "")[:120],
             "steps": str(form.get("steps") or "")[:12]}
    try:
        steps = _whole_number(form, "steps", f"Training steps are a whole number between {styles.MIN_STEPS} and "
                                             f"{styles.MAX_STEPS:,}.")
        made = start_style(request, user, shown["name"], shown["trigger"], steps)
    except Invalid as exc:
        return render(request, "staff/styles.html", _styles_context(request, user, form=shown, **_failed(exc)),
                      status_code=422)
    return _back(made.id)


@pages.post("/styles/installed")
async def styles_installed(request: Request, user: dict = Depends(admin_writer)):
    """Switch an installed style on or off, make it the default, set its weight, remove it."""
    form = await request.form()
    name = str(form.get("name") or "")[:80]
    try:
        # The model manager may wait on the lock file while the worker installs a LoRA:
        # off the event loop the customer app shares.
        await run_in_threadpool(change_installed, request, user, name, str(form.get("action") or ""),
                                str(form.get("weight") or "")[:20])
    except (ModelError, Invalid) as exc:
        return render(request, "staff/styles.html",
                      _styles_context(request, user, error_style=name, **_failed(exc)), status_code=422)
    return RedirectResponse(f"{PREFIX}/styles", status_code=303)


# ---------------------------------------------------------------- pages: one style

@pages.get("/styles/{style_id}")
def style_page(request: Request, style_id: str, user: dict = Depends(admin_reader)):
    return render(request, "staff/style.html", _style_context(request, user, style_id))


@pages.get("/styles/{style_id}/progress")
def style_progress(request: Request, style_id: str, seen: str = "", user: dict = Depends(admin_reader)):
    """The progress block alone (it polls itself while the style waits or trains); when the
    style moved on (finished, or a checkpoint's samples came), the whole page reloads."""
    context = {"user": user, **_progress_context(request, styles.get(store_of(request), style_id))}
    headers = {"HX-Refresh": "true"} if is_htmx(request) and seen and seen != context["seen"] else None
    return render(request, "staff/_style_progress.html", context, headers=headers)


@pages.post("/styles/{style_id}/photos")
async def style_add_photos(request: Request, style_id: str, user: dict = Depends(admin_writer)):
    """Add photos, many at a time: each is kept or refused on its own, by its file name."""
    store, folder = store_of(request), request.app.state.settings.training_dir
    styles.get(store, style_id)
    form = await request.form()
    uploads = [f for f in form.getlist("photos") if not isinstance(f, str) and (f.filename or f.size)]
    added, refused = [], []
    for upload in uploads:
        data = await upload.read(styles.MAX_PHOTO_BYTES + 1)
        label = Path(upload.filename or "photo").name[:120]
        try:
            # Decoding and hashing a large photo takes a while: off the event loop.
            added.append(await run_in_threadpool(styles.add_photo, store, folder, style_id, label, data, caption))
        except Invalid as exc:
            refused.append({"name": label, "reason": exc.message})
        except Conflict as exc:
            return render(request, "staff/style.html", _style_context(request, user, style_id, **_failed(exc)),
                          status_code=409)
    if added:
        people.record(store, user["username"], "style photos added", styles.get(store, style_id).name,
                      f"{len(added)} added, {len(refused)} refused")
    extra = {"added": added, "refused": refused,
             "upload_error": None if uploads else "Choose one or more photos (JPEG, PNG or WebP) to add."}
    return render(request, "staff/style.html", _style_context(request, user, style_id, **extra),
                  status_code=422 if refused or not uploads else 200)


@pages.get("/styles/{style_id}/photos/{photo_id}")
def style_photo(request: Request, style_id: str, photo_id: str, user: dict = Depends(admin_reader)):
    """A photo as it was sent (only under its own style)."""
    photo = styles.get_photo(store_of(request), style_id, photo_id)
    path = request.app.state.settings.training_dir / photo.path
    return picture(path, MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"), "private, max-age=3600")


@pages.get("/styles/{style_id}/samples/{step}/{index}")
def style_sample(request: Request, style_id: str, step: int, index: int, user: dict = Depends(admin_reader)):
    """One validation sample: prompt `index` drawn at checkpoint `step` (0: without the style)."""
    found = styles.samples(store_of(request), style_id).get(step, [])
    if not 0 <= index < len(found):
        raise NotFound("No such sample for this style.")
    folder = request.app.state.settings.training_dir
    path = (folder / found[index]).resolve()
    if not path.is_relative_to((folder / style_id).resolve()):
        raise NotFound("No such sample for this style.")
    return picture(path, MEDIA_TYPES.get(path.suffix.lower(), "image/png"), "private, max-age=3600")


def _on_style(request: Request, user: dict, style_id: str, change, **extra):
    """Run one change of the style page: back to the page, or the page with the refusal."""
    try:
        change()
    except (Invalid, Conflict) as exc:
        return render(request, "staff/style.html",
                      _style_context(request, user, style_id, **_failed(exc), **extra), status_code=_status_of(exc))
    return _back(style_id)


@pages.post("/styles/{style_id}/photos/{photo_id}/confirm")
async def style_confirm_photo(request: Request, style_id: str, photo_id: str, user: dict = Depends(admin_writer)):
    """The jeweler's line for one photo: read again, and confirmed when it reads."""
    store = store_of(request)
    styles.get_photo(store, style_id, photo_id)
    line = str((await request.form()).get("line") or "")[:400]

    def confirm():
        done = styles.confirm_photo(store, style_id, photo_id, line, caption, actor=user["username"])
        people.record(store, user["username"], "style photo confirmed", styles.get(store, style_id).name,
                      f"{done.original_name}: {done.line}")
    return _on_style(request, user, style_id, confirm, error_photo=photo_id, lines={photo_id: line})


@pages.post("/styles/{style_id}/confirm-all")
def style_confirm_all(request: Request, style_id: str, user: dict = Depends(admin_writer)):
    """Confirm every photo whose line reads as it stands; the others wait for a line."""
    store = store_of(request)

    def confirm_readable():
        done = 0
        for view in map(photo_view, styles.photos(store, style_id)):
            if not view.photo.confirmed and view.unreadable is None:
                styles.confirm_photo(store, style_id, view.photo.id, view.photo.line, caption, actor=user["username"])
                done += 1
        if done:
            people.record(store, user["username"], "style photos confirmed", styles.get(store, style_id).name,
                          f"{done} photos")
    return _on_style(request, user, style_id, confirm_readable)


@pages.post("/styles/{style_id}/photos/{photo_id}/remove")
def style_remove_photo(request: Request, style_id: str, photo_id: str, user: dict = Depends(admin_writer)):
    store = store_of(request)
    photo = styles.get_photo(store, style_id, photo_id)

    def remove():
        styles.remove_photo(store, request.app.state.settings.training_dir, style_id, photo_id)
        people.record(store, user["username"], "style photo removed", styles.get(store, style_id).name,
                      photo.original_name)
    return _on_style(request, user, style_id, remove)


@pages.post("/styles/{style_id}/train")
def style_train(request: Request, style_id: str, user: dict = Depends(admin_writer)):
    """Queue the style for training (it starts when the GPU is free of customers)."""
    store = store_of(request)

    def train():
        queued = styles.queue(store, style_id)
        people.record(store, user["username"], "style queued to train", queued.name, f"{queued.steps} steps")
    return _on_style(request, user, style_id, train)


@pages.post("/styles/{style_id}/stop")
def style_stop(request: Request, style_id: str, user: dict = Depends(admin_writer)):
    """Stop a style waiting or training; its checkpoint is kept, so training again resumes."""
    store = store_of(request)

    def stop():
        stopped = styles.cancel(store, style_id)
        people.record(store, user["username"], "style stopped", stopped.name, f"at step {stopped.step}")
    return _on_style(request, user, style_id, stop)


@pages.post("/styles/{style_id}/steps")
async def style_steps(request: Request, style_id: str, user: dict = Depends(admin_writer)):
    store, form = store_of(request), await request.form()

    def change():
        steps = _whole_number(form, "steps", f"Training steps are a whole number between {styles.MIN_STEPS} "
                                             f"and {styles.MAX_STEPS:,}.")
        changed = styles.set_steps(store, style_id, steps)
        people.record(store, user["username"], "style steps changed", changed.name, f"{changed.steps} steps")
    return _on_style(request, user, style_id, change)


@pages.post("/styles/{style_id}/use")
async def style_use(request: Request, style_id: str, user: dict = Depends(admin_writer)):
    """Switch a trained style's LoRA on (and, when asked, draw every round with it)."""
    style = styles.get(store_of(request), style_id)
    action = str((await request.form()).get("action") or "")

    def use():
        if action not in ("on", "default"):
            raise Invalid("action", "Choose on or default.")
        try:
            change_installed(request, user, style.name, "on")
            if action == "default":
                change_installed(request, user, style.name, "default")
        except ModelError as exc:
            raise Invalid("installed", str(exc)) from None
    return await run_in_threadpool(_on_style, request, user, style_id, use)


@pages.post("/styles/{style_id}/delete")
def style_delete(request: Request, style_id: str, user: dict = Depends(admin_writer)):
    """Delete a style that is not training, with its photos, samples and checkpoints."""
    store = store_of(request)
    style = styles.get(store, style_id)
    try:
        styles.delete(store, request.app.state.settings.training_dir, style_id)
    except Conflict as exc:
        return render(request, "staff/style.html", _style_context(request, user, style_id, **_failed(exc)),
                      status_code=409)
    people.record(store, user["username"], "style deleted", style.name)
    return RedirectResponse(f"{PREFIX}/styles", status_code=303)


# ---------------------------------------------------------------- JSON API

class StyleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., max_length=40)
    trigger: str = Field(..., max_length=60)
    steps: int | None = Field(None, ge=styles.MIN_STEPS, le=styles.MAX_STEPS)


def style_json(style: styles.Style) -> dict:
    return {"id": style.id, "name": style.name, "trigger": style.trigger, "status": style.status,
            "status_words": style.status_words, "steps": style.steps, "step": style.step, "loss": style.loss,
            "error": style.error, "created_by": style.created_by, "created_at": style.created_at,
            "updated_at": style.updated_at, "finished_at": style.finished_at, "page": f"{PREFIX}/styles/{style.id}"}


def installed_json(lora) -> dict:
    return {"name": lora.name, "source": lora.source, "enabled": lora.enabled, "default": lora.default,
            "weight": lora.weight, "trigger": lora.trigger}


@api.get("/styles")
def api_styles(request: Request, user: dict = Depends(admin_reader)):
    """The installed style LoRAs and the styles being made (admins only)."""
    return {"installed": [installed_json(s) for s in models_of(request).styles()],
            "styles": [style_json(s) for s in styles.listing(store_of(request))]}


@api.get("/styles/{style_id}")
def api_style(request: Request, style_id: str, user: dict = Depends(admin_reader)):
    """One style with its photos, losses and validation samples."""
    store = store_of(request)
    style = styles.get(store, style_id)
    found = styles.samples(store, style_id)
    return {**style_json(style),
            "photos": [{"id": p.id, "original_name": p.original_name, "width": p.width, "height": p.height,
                        "soft": p.soft, "line": p.line, "reads_as": p.spec.summary(), "caption": p.caption,
                        "confirmed": p.confirmed, "url": f"{PREFIX}/styles/{style_id}/photos/{p.id}"}
                       for p in styles.photos(store, style_id)],
            "losses": [[step, loss] for step, loss in styles.losses(store, style_id)],
            "samples": [{"step": step,
                         "images": [f"{PREFIX}/styles/{style_id}/samples/{step}/{i}" for i in range(len(paths))]}
                        for step, paths in sorted(found.items())]}


@api.post("/styles", status_code=201)
def api_start_style(request: Request, body: StyleIn, user: dict = Depends(admin_writer)):
    """Start a new style collecting photos (steps default to the store's training_steps)."""
    steps = body.steps if body.steps is not None else request.app.state.settings.training_steps
    return style_json(start_style(request, user, body.name, body.trigger, steps))
