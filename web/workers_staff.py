"""The staff app's Workers page (any signed-in staff): how jobs reach the workers, each
worker's box, card, generator and model and what it is doing now, the GPU workers added
but never connected, and the queue (waiting in serving order, and being drawn). The page
polls its own fragment every 3 s; GET /staff/api/v1/workers answers the same facts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from appliance.ops import fleet_status
from web.responses import render, store_of
from web.staff import PREFIX, staff_user

pages = APIRouter(prefix=PREFIX, include_in_schema=False)
api = APIRouter(prefix=PREFIX + "/api/v1", tags=["staff"])
# web.app includes this one router: the pages and the JSON twin.
router = APIRouter()

LIVE_PATH = "/workers/live"


def _context(request: Request, user: dict) -> dict:
    return {"user": user, "fleet": fleet_status.snapshot(request.app.state.settings, store_of(request)),
            "ago": fleet_status.ago, "live_path": PREFIX + LIVE_PATH}


@pages.get("/workers")
def workers_page(request: Request, user: dict = Depends(staff_user)):
    return render(request, "staff/workers.html", _context(request, user))


@pages.get(LIVE_PATH)
def workers_live(request: Request, user: dict = Depends(staff_user)):
    """The page's workers and queue alone: the page polls it every 3 s."""
    return render(request, "staff/_workers_live.html", _context(request, user))


@api.get("/workers")
def api_workers(request: Request, user: dict = Depends(staff_user)):
    """The workers and the queue, as the Workers page shows them (job and design ids by
    their first six characters)."""
    return fleet_status.snapshot(request.app.state.settings, store_of(request)).as_dict()


router.include_router(pages)
router.include_router(api)
