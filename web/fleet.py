"""The staff app's internal endpoints for GPU workers on other boxes (dispatcher =
"celery"): each call carries the worker's own token (`diamra worker add NAME`) as a
Bearer token and is about one job and one attempt (appliance.studio.fleet). LAN only,
like the rest of the staff app."""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from appliance.errors import Invalid
from appliance.studio import fleet
from web.responses import store_of

api = APIRouter(prefix=fleet.PATH, tags=["fleet"], include_in_schema=False)

# A finished round's images arrive in one request: this route may send more than the
# app's usual body limit (web/app.py asks here).
FINISH_PATH = re.compile(rf"^{fleet.PATH}/jobs/[^/]+/attempts/\d+/(finish|progress)$")
FINISH_BODY_BYTES = 8 * fleet.MAX_IMAGE_BYTES + 1024 * 1024
JOB_ID = r"^[A-Za-z0-9_-]{16,64}$"


def fleet_worker(request: Request) -> str:
    """The worker this request's token belongs to, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "Authorization: a GPU worker's token is required (Bearer).",
                            headers={"WWW-Authenticate": "Bearer"})
    name = fleet.authenticate(store_of(request), token.strip())
    if name is None:
        raise HTTPException(401, "Authorization: this is not the token of a GPU worker of this shop.",
                            headers={"WWW-Authenticate": "Bearer"})
    return name


class Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    generator: str = Field("", max_length=200)
    reason: str = Field("", max_length=200)
    box: str = Field("", max_length=200)
    gpu: str = Field("", max_length=200)
    model: str = Field("", max_length=200)


@api.post("/heartbeat")
def heartbeat(request: Request, facts: Facts, name: str = Depends(fleet_worker)):
    fleet.heartbeat(store_of(request), name, facts.model_dump())
    return {"name": name}


@api.post("/jobs/{job_id}/claim")
def claim(request: Request, job_id: str, task: str | None = Query(None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"),
          name: str = Depends(fleet_worker)):
    _check_job_id(job_id)
    dispatching = request.app.state.settings.dispatcher == "celery"
    return fleet.claim(store_of(request), name, job_id, dispatching=dispatching, task=task).as_dict()


@api.get("/jobs/{job_id}/attempts/{attempt}/inputs/{kind}")
def job_input(request: Request, job_id: str, attempt: int, kind: str, name: str = Depends(fleet_worker)):
    _check_job_id(job_id)
    if kind not in ("init", "mask"):
        raise Invalid("kind", "must be init or mask")
    settings = request.app.state.settings
    path = fleet.input_file(store_of(request), settings.images_dir, settings.uploads_dir, name, job_id, attempt, kind)
    return FileResponse(path, media_type="application/octet-stream")


@api.post("/jobs/{job_id}/attempts/{attempt}/progress")
async def progress(request: Request, job_id: str, attempt: int, name: str = Depends(fleet_worker)):
    _check_job_id(job_id)
    preview = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        fraction = _number(form.get("fraction"), "fraction")
        upload = form.get("preview")
        if isinstance(upload, UploadFile):
            preview = await upload.read()
    else:
        try:
            body = await request.json()
        except ValueError:
            raise Invalid("fraction", "send JSON {\"fraction\": 0.5} or a form with fraction and preview") from None
        fraction = _number(body.get("fraction") if isinstance(body, dict) else None, "fraction")
    settings = request.app.state.settings
    return await run_in_threadpool(fleet.progress, store_of(request), settings.images_dir, name, job_id, attempt,
                                   fraction, preview)


@api.post("/jobs/{job_id}/attempts/{attempt}/finish")
async def finish(request: Request, job_id: str, attempt: int, name: str = Depends(fleet_worker)):
    _check_job_id(job_id)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Invalid("status", "send a form: status, generator, error, seeds, labels and image0..imageN")
    form = await request.form(max_files=16, max_fields=16, max_part_size=fleet.MAX_IMAGE_BYTES)
    status = str(form.get("status") or "")
    generator = str(form.get("generator") or "")[:80] or "unknown"
    seeds, labels = _json_list(form.get("seeds"), "seeds"), _json_list(form.get("labels"), "labels")
    images = []
    for index in range(len(seeds)):
        upload = form.get(f"image{index}")
        if not isinstance(upload, UploadFile):
            raise Invalid(f"image{index}", "is missing: one image per seed")
        seed = seeds[index]
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
            raise Invalid("seeds", "must be whole numbers")
        label = labels[index] if index < len(labels) and isinstance(labels[index], str) else ""
        images.append((await upload.read(), seed, label))
    settings = request.app.state.settings
    outcome = await run_in_threadpool(fleet.finish, store_of(request), settings.images_dir, name, job_id, attempt,
                                      status=status, generator=generator, error=str(form.get("error") or ""),
                                      images=images)
    return {"status": outcome}


def _check_job_id(job_id: str) -> None:
    if not re.match(JOB_ID, job_id):
        raise Invalid("job_id", "is not a job's id")


def _number(value, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(field, "must be a number from 0 to 1") from None
    if not 0 <= number <= 1:
        raise Invalid(field, "must be a number from 0 to 1")
    return number


def _json_list(value, field: str) -> list:
    try:
        parsed = json.loads(str(value or "[]"))
    except ValueError:
        raise Invalid(field, "must be a JSON list") from None
    if not isinstance(parsed, list) or len(parsed) > 8:
        raise Invalid(field, "must be a JSON list of at most 8")
    return parsed
