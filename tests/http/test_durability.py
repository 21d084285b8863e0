"""kill -9 of the server while orders are being placed: every order the API acknowledged
is still there afterwards, and the database passes its integrity check."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.live import free_port, wait_for_job_over_http, wait_until_serving

DIAMRA = str(Path(sys.executable).parent / "diamra")


def test_acknowledged_orders_survive_a_kill(tmp_path):
    port, staff_port = free_port(), free_port()
    data = tmp_path / "data"
    server = subprocess.Popen([DIAMRA, "--data", str(data), "serve", "--host", "127.0.0.1", "--customer-port",
                               str(port), "--staff-port", str(staff_port), "--generator", "sketch"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "DIAMRA_RATE_LIMIT_PER_MINUTE": "100000"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base + "/healthz")
        design = httpx.post(base + "/api/v1/designs", json={"description": "platinum ring with a 1 carat ruby"}).json()
        job = httpx.post(f"{base}/api/v1/designs/{design['id']}/renders", json={"count": 1}).json()["job"]
        done = wait_for_job_over_http(base, job["id"])
        image_id = done["images"][0]["id"]
        acknowledged: list[int] = []
        stop = threading.Event()

        def place():
            with httpx.Client(base_url=base, timeout=5) as client:
                while not stop.is_set():
                    try:
                        response = client.post(f"/api/v1/designs/{design['id']}/order",
                                               json={"image_id": image_id, "name": "Ana", "email": "ana@example.com",
                                                     "spec_revision": design["spec_revision"]})
                    except httpx.HTTPError:
                        return
                    if response.status_code == 201:
                        acknowledged.append(response.json()["number"])

        placers = [threading.Thread(target=place) for _ in range(3)]
        for t in placers:
            t.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        stop.set()
        for t in placers:
            t.join(10)
    finally:
        if server.poll() is None:
            server.kill()
    assert len(acknowledged) >= 40
    conn = sqlite3.connect(data / "diamra.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in conn.execute("SELECT number FROM orders")}
    assert set(acknowledged) <= stored
    versions = {row[0] for row in conn.execute("SELECT order_number FROM order_versions")}
    assert set(acknowledged) <= versions                    # never a half-written order
