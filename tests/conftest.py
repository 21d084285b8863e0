"""Shared fixtures: a real data folder with a real SQLite file per test, the real apps,
and a worker running the real sketch generator."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from appliance import cli
from appliance.config import load_settings
from appliance.ops import auth

STAFF_PASSWORD = "a long staff password"


@pytest.fixture
def settings(tmp_path):
    return load_settings(tmp_path / "data", generator="sketch", image_size=256)


@pytest.fixture
def store(settings):
    store = cli.open_appliance(settings)
    yield store
    store.close()


@pytest.fixture
def worker(settings, store):
    """A started worker (crash recovery done, generator loaded); drive it with run_once()."""
    worker = cli.build_worker(settings, store)
    worker.start_up()
    return worker


@pytest.fixture
def running_worker(settings, store):
    """The embedded worker thread, as `diamra serve` runs it."""
    worker = cli.build_worker(settings, store)
    worker.poll_seconds = 0.05
    worker.start_thread()
    yield worker
    worker.stop()


@pytest.fixture
def customer(settings, store):
    app, _ = cli.build_apps(settings, store)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def staff(settings, store):
    _, app = cli.build_apps(settings, store)
    # Everything staff lives under /staff; relative paths below are joined onto it.
    with TestClient(app, base_url="http://testserver/staff") as client:
        yield client


@pytest.fixture
def jeweler(store):
    auth.create_user(store, "jeweler", STAFF_PASSWORD, "admin")
    return "jeweler"


@pytest.fixture
def staff_session(staff, jeweler):
    """A logged-in staff client; returns (client, csrf headers)."""
    response = staff.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD})
    assert response.status_code == 200
    return staff, {"X-CSRF-Token": response.json()["csrf_token"]}


def wait_for_job(client, job_id: str, timeout: float = 30) -> dict:
    """Poll the job API until the job is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")
