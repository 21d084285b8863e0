"""A real uvicorn server on a loopback port, for browser tests and benchmarks."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real uvicorn server on a loopback port, in a thread."""

    def __init__(self, app):
        self.port = free_port()
        from appliance.cli import server_config
        self.server = uvicorn.Server(server_config(app, "127.0.0.1", self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def wait_until_serving(url: str, timeout: float = 20) -> None:
    """Poll `url` until a server answers it (any status)."""
    import httpx
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered at {url}")


def wait_for_job_over_http(base: str, job_id: str, timeout: float = 20) -> dict:
    """Poll a real server's job API until the job is done (or the time is up)."""
    import httpx
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{base}/api/v1/jobs/{job_id}").json()
        if job["status"] == "done" or time.monotonic() > deadline:
            return job
        time.sleep(0.05)
