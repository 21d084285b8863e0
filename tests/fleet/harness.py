"""A shop and its GPU workers as a store would run them, on this box: a real redis-server
on a loopback port, the shop as `diamra serve` with dispatcher = "celery", and each
worker as its own `diamra worker --dispatcher celery` process drawing with the sketch
renderer (which stands in for a GPU's drawing time with sketch_ms_per_image). Used by
tests/fleet and bench/fleet.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from appliance.storage.store import Store
from appliance.studio import designs, fleet, jobs
from tests.live import free_port, wait_until_serving

DIAMRA = [sys.executable, "-m", "appliance.cli"]
PASSWORD = "fleet-test-password"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


class Redis:
    """redis-server on a loopback port, with a password; restartable on the same port."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        if not Path(REDIS).exists():
            raise RuntimeError("redis-server is not installed (./install.sh test installs it from Debian)")
        self.process = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--requirepass", PASSWORD, "--save", "",
             "--appendonly", "no", "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait()
        return self

    def wait(self, timeout: float = 10) -> None:
        import redis
        deadline = time.monotonic() + timeout
        while True:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Gone without saving: everything it held is lost, as after a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


class Shop:
    """`diamra serve` with dispatcher = "celery", and its database opened here too."""

    def __init__(self, folder: Path, redis: Redis, silent_seconds: int = 3):
        self.folder = Path(folder)
        self.data = self.folder / "shop"
        self.redis = redis
        self.staff_port, self.customer_port = free_port(), free_port()
        self.env = {**os.environ, "DIAMRA_DISPATCHER": "celery", "DIAMRA_BROKER_URL": redis.url,
                    "DIAMRA_WORKER_SILENT_SECONDS": str(silent_seconds), "PYTHONUNBUFFERED": "1"}
        self.env.pop("DIAMRA_CONFIG", None)
        self.process: subprocess.Popen | None = None
        self.store: Store | None = None
        self.log = self.folder / "shop.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.staff_port}"

    def start(self) -> Shop:
        subprocess.run([*DIAMRA, "--data", str(self.data), "init"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [*DIAMRA, "--data", str(self.data), "serve", "--generator", "sketch", "--host", "127.0.0.1",
                 "--customer-port", str(self.customer_port), "--staff-port", str(self.staff_port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_serving(f"{self.url}/healthz")
        self.store = Store(self.data / "diamra.db")
        return self

    def add_worker(self, name: str) -> Path:
        token = fleet.add_worker(self.store, name, by="test")
        path = self.folder / f"{name}.token"
        path.write_text(token + "\n")
        return path

    def enqueue(self, count: int, images: int = 2) -> list[str]:
        ids = []
        for i in range(count):
            design = designs.create_design(self.store, f"14k rose gold halo ring with an oval lab diamond, no. {i}")
            ids.append(jobs.enqueue(self.store, design.id, count=images).id)
        return ids

    def job(self, job_id: str) -> jobs.Job:
        return jobs.get_job(self.store, job_id)

    def wait_all(self, ids: list[str], timeout: float = 60) -> list[jobs.Job]:
        deadline = time.monotonic() + timeout
        while True:
            found = [self.job(job_id) for job_id in ids]
            if all(not job.open for job in found):
                return found
            if time.monotonic() > deadline:
                states = {job.id[:6]: (job.status, job.worker_id, job.attempts) for job in found}
                raise AssertionError(f"jobs still open after {timeout} s: {states}\n{self.tail()}")
            time.sleep(0.05)

    def wait_for(self, condition, timeout: float = 30, what: str = "the condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.tail()}")
            time.sleep(0.02)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.store:
            self.store.close()


class Worker:
    """One `diamra worker --dispatcher celery` process (its own process group)."""

    def __init__(self, shop: Shop, name: str, ms_per_image: int = 200):
        self.shop, self.name = shop, name
        self.token_file = shop.add_worker(name)
        self.folder = shop.folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log = shop.folder / f"{name}.log"
        self.env = {**shop.env, "DIAMRA_SKETCH_MS_PER_IMAGE": str(ms_per_image)}
        self.process: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> Worker:
        self.log.write_text("")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [*DIAMRA, "--data", str(self.folder), "worker", "--dispatcher", "celery", "--shop", self.shop.url,
                 "--token-file", str(self.token_file), "--generator", "sketch"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            deadline = time.monotonic() + 60
            while " ready." not in self.log.read_text(errors="replace"):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {self.name} did not start:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.05)
        return self

    def kill(self) -> None:
        """kill -9 of the whole worker: no warm shutdown, nothing acknowledged."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
