"""The `diamra` command as an operator uses it: real processes, real ports."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

from appliance.ops import auth
from appliance.storage.store import Store
from tests.live import free_port, wait_for_job_over_http, wait_until_serving

DIAMRA = str(Path(sys.executable).parent / "diamra")


def run(*args, stdin: str = "", data: Path) -> subprocess.CompletedProcess:
    return subprocess.run([DIAMRA, "--data", str(data), *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_user_add_reads_the_password_from_stdin(tmp_path):
    result = run("user", "add", "maria", "--role", "jeweler", stdin="a long staff password\n", data=tmp_path)
    assert result.returncode == 0, result.stderr
    store = Store(tmp_path / "diamra.db")
    assert auth.authenticate(store, "maria", "a long staff password")["role"] == "jeweler"
    store.close()
    again = run("user", "add", "maria", stdin="another long password\n", data=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    short = run("user", "add", "lee", stdin="short\n", data=tmp_path)
    assert short.returncode == 2 and "at least 10" in short.stderr


def test_generate_renders_one_image(tmp_path):
    out = tmp_path / "ring.png"
    result = run("generate", "--prompt", "platinum ring with a 1 carat ruby", "--seed", "5", "--out", str(out),
                 data=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (640, 640) and "seed 5" in result.stdout


def test_serve_starts_both_apps_and_the_worker_and_prints_the_urls(tmp_path):
    customer_port, staff_port = free_port(), free_port()
    process = subprocess.Popen(
        [DIAMRA, "--data", str(tmp_path), "serve", "--host", "127.0.0.1", "--customer-port", str(customer_port),
         "--staff-port", str(staff_port), "--generator", "sketch"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        deadline = time.monotonic() + 30
        while not any("Staff dashboard" in line for line in lines) and time.monotonic() < deadline:
            lines.append(process.stdout.readline())
        assert any(f"http://127.0.0.1:{customer_port}/" in line for line in lines)
        assert any(f"http://127.0.0.1:{staff_port}/" in line for line in lines)
        base = f"http://127.0.0.1:{customer_port}"
        wait_until_serving(base + "/")
        design = httpx.post(base + "/api/v1/designs", json={"description": "rose gold ring with a pear sapphire"}).json()
        job = httpx.post(f"{base}/api/v1/designs/{design['id']}/renders", json={"count": 1}).json()["job"]
        status = wait_for_job_over_http(base, job["id"])
        assert status["status"] == "done"                    # the embedded worker drew it
        assert httpx.get(f"http://127.0.0.1:{staff_port}/staff/login").status_code == 200
        assert (tmp_path / "diamra.db").exists() and (tmp_path / "diamra.db-wal").exists()
    finally:
        process.terminate()
        process.wait(10)
