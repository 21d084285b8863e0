"""Body limits count what streams in: a chunked body with no Content-Length is refused
with 413 once it passes the route's limit, and the server never holds it whole."""

import resource

import httpx

from appliance import cli
from tests.live import LiveServer

CHUNK = b"x" * (1024 * 1024)


def chunks(megabytes: int, prefix: bytes = b""):
    yield prefix
    for _ in range(megabytes):
        yield CHUNK


def test_a_chunked_50_mb_body_is_refused_and_memory_stays_near_idle(settings, store):
    customer_app, _ = cli.build_apps(settings, store)
    with LiveServer(customer_app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        json_body = client.post("/api/v1/designs", content=chunks(50, b'{"description": "'),
                                headers={"content-type": "application/json"})
        upload = client.post("/api/v1/designs/whatever/references",
                             content=chunks(50, b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
                                                b"filename=\"x.png\"\r\n\r\n"),
                             headers={"content-type": "multipart/form-data; boundary=b"})
        form = client.post("/designs", content=chunks(50, b"description="),
                           headers={"content-type": "application/x-www-form-urlencoded"})
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert json_body.status_code == upload.status_code == form.status_code == 413
        assert "limit" in json_body.json()["detail"]
        assert grown_mb < 40, f"the server grew by {grown_mb:.0f} MB"
        assert client.get("/healthz").status_code in (200, 503)               # still serving
