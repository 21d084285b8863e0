"""A GPU worker on its own box (`diamra worker --dispatcher celery`): it takes the jobs
Celery hands it, one at a time, reads each job from the shop over the LAN, draws it with
its own generator, and sends the progress, a preview and the finished images back. It
keeps nothing: the shop's database is the record, and the shop refuses what it sends for
an attempt that is no longer current.
"""

from __future__ import annotations

import io
import json
import logging
import platform
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from appliance.jewelry.specs import Spec
from appliance.studio.fleet import FACT_LENGTH, PATH
from appliance.studio.generation import DeviceLost, Generator, resolve
from appliance.studio.round_output import LatestStep

log = logging.getLogger(__name__)

PNG_COMPRESS_LEVEL = 3


class ShopUnreachable(RuntimeError):
    """The shop did not answer (after retries); the job stays the shop's to send again."""


class Refused(RuntimeError):
    """The shop refused what this worker sent: `status` is the HTTP status."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"the shop answered {status}: {detail}")
        self.status = status
        self.detail = detail


class TokenRefused(RuntimeError):
    """The shop no longer knows this worker's token (it was removed): the worker stops."""


class AttemptOver(RuntimeError):
    """The shop gave this job to another attempt (this worker was thought dead): stop."""


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


class ShopClient:
    """The shop's internal fleet endpoints, with this worker's token."""

    def __init__(self, shop_url: str, token: str, timeout: float = 30, retry_for: float = 120):
        self.base = shop_url.rstrip("/")
        self.token, self.timeout, self.retry_for = token, timeout, retry_for

    def call(self, method: str, path: str, *, payload: dict | None = None, files: dict | None = None,
             retry: bool = True) -> Answer:
        """One request; network failures are retried for `retry_for` seconds. A 4xx or 5xx
        answer raises Refused (409: AttemptOver where the attempt is over)."""
        body, headers = None, {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if files is not None:
            body, content_type = _multipart(payload or {}, files)
            headers["Content-Type"] = content_type
        elif payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + (self.retry_for if retry else 0)
        pause = 0.5
        while True:
            request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return Answer(response.status, response.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300]
                try:
                    detail = json.loads(detail).get("detail", detail)
                except (ValueError, AttributeError):
                    detail = detail or f"HTTP {exc.code}"     # not the shop's JSON: its text as it came
                if exc.code == 409:
                    raise AttemptOver(str(detail)) from None
                if exc.code >= 500 and time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(pause * 2, 5)
                    continue
                raise Refused(exc.code, str(detail)) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise ShopUnreachable(f"the shop at {self.base} did not answer: {exc}") from None
                time.sleep(pause)
                pause = min(pause * 2, 5)


class RemoteProgress(LatestStep):
    """The latest step of the job, posted to the shop by its own thread at most every
    `every` seconds; a step slower than `keep_alive` (a slow card, a long decode or upload)
    still tells the shop the job is alive. Remembers whether the shop said the customer
    cancelled, or gave the job to another attempt."""

    def __init__(self, post: Callable[[float, bytes | None], dict], every: float = 0.25, keep_alive: float = 5.0):
        self.post = post
        self.cancelled = False
        self.over = False
        super().__init__(every, keep_alive, name="diamra-remote-progress")

    def _deliver(self, fraction: float, preview) -> None:
        jpeg = None
        picture = resolve(preview)
        if picture is not None:
            buffer = io.BytesIO()
            picture.convert("RGB").resize((256, 256)).save(buffer, format="JPEG", quality=70)
            jpeg = buffer.getvalue()
        try:
            answer = self.post(fraction, jpeg)
            self.cancelled = self.cancelled or bool(answer.get("cancel"))
        except AttemptOver:
            self.over = True
        except Exception as exc:            # a lost progress line never stops the round
            log.warning("could not report progress: %s", exc)


class RemoteWorker:
    """Draws the jobs it is given, each as the shop's current attempt."""

    def __init__(self, client: ShopClient, generator: Generator, *, new_request, generator_reason: str = "",
                 image_size: int = 0, model: str = "", gpu: str = "", fleet_path: str = PATH):
        self.client, self.generator, self.new_request = client, generator, new_request
        self.generator_reason, self.image_size, self.model, self.gpu = generator_reason, image_size, model, gpu
        self.path = fleet_path.rstrip("/")
        self.name: str | None = None
        self.fatal: BaseException | None = None
        self.jobs_done = 0
        self._stop = threading.Event()

    # ------------------------------------------------------------ being there

    def facts(self) -> dict:
        facts = {"generator": self.generator.name, "reason": self.generator_reason, "box": platform.node(),
                 "gpu": self.gpu, "model": self.model}
        return {key: str(value)[:FACT_LENGTH] for key, value in facts.items()}

    def announce(self) -> str:
        """Tell the shop this worker is here (its token names it); returns its name."""
        answer = self.client.call("POST", f"{self.path}/heartbeat", payload=self.facts()).json()
        self.name = answer["name"]
        return self.name

    def keep_announcing(self, every: float = 5.0, on_refused: Callable[[str], None] = lambda why: None
                        ) -> threading.Thread:
        """Tell the shop every `every` seconds that this worker is alive; `on_refused(why)`
        when the shop no longer knows its token (the worker was removed)."""
        def loop():
            while not self._stop.wait(every):
                try:
                    self.client.call("POST", f"{self.path}/heartbeat", payload=self.facts(), retry=False)
                except Refused as exc:
                    if exc.status in (401, 403):
                        log.error("the shop refused this worker's token (%s): stopping", exc.detail)
                        on_refused(exc.detail)
                        return
                    log.warning("heartbeat to the shop failed: %s", exc)
                except Exception as exc:
                    log.warning("heartbeat to the shop failed: %s", exc)
        thread = threading.Thread(target=loop, name="diamra-heartbeat", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------ one job

    def draw(self, job_id: str, revoked: Callable[[], bool] = lambda: False, task: str | None = None) -> str:
        """Take the job, draw it, hand it back. Returns what became of it: done, failed,
        cancelled, skipped (a duplicate message: the job was taken or ended) or over
        (the shop gave the job to another attempt meanwhile). `task` is the message's id:
        a claim repeated after a lost answer keeps its attempt."""
        path = f"{self.path}/jobs/{job_id}/claim" + (f"?{urllib.parse.urlencode({'task': task})}" if task else "")
        try:
            sent = self.client.call("POST", path).json()
        except AttemptOver as exc:
            log.info("job %s… not taken: %s", job_id[:6], exc)
            return "skipped"
        except Refused as exc:
            if exc.status == 404:
                log.info("job %s… no longer exists", job_id[:6])
                return "skipped"
            if exc.status in (401, 403):
                raise TokenRefused(exc.detail) from None
            raise
        attempt = sent["attempt"]
        base = f"{self.path}/jobs/{job_id}/attempts/{attempt}"
        try:
            return self._draw(job_id, sent, base, revoked)
        except AttemptOver:
            log.warning("job %s… attempt %d is over: the shop gave it to another worker", job_id[:6], attempt)
            return "over"

    def _draw(self, job_id: str, sent: dict, base: str, revoked: Callable[[], bool]) -> str:
        init = mask = None
        if sent["init_kind"]:
            init = _image(self.client.call("GET", f"{base}/inputs/init").body).convert("RGB")
        if sent["has_mask"]:
            mask = _image(self.client.call("GET", f"{base}/inputs/mask").body)
        size = self.image_size or self.generator.default_size
        request = self.new_request(
            spec=Spec.model_validate_json(sent["spec_json"]), description=sent["description"], count=sent["count"],
            seeds=[secrets.randbelow(2**31) for _ in range(sent["count"])], instruction=sent["instruction"],
            init_image=init, mask=mask, strength=sent["strength"], width=size, height=size,
            init_kind=sent["init_kind"])
        progress = RemoteProgress(lambda fraction, jpeg: self._post_progress(base, fraction, jpeg))
        cancelled = lambda: progress.cancelled or progress.over or revoked()
        try:
            result = self.generator.generate(request, on_progress=progress.update, is_cancelled=cancelled)
        except DeviceLost as exc:
            progress.close()
            self.fatal = exc
            raise
        except Exception as exc:
            progress.close()
            if progress.over:
                raise AttemptOver("the shop gave the job to another attempt") from None
            if cancelled():
                return self._finish(base, "cancelled")
            log.exception("job %s… failed in the %s generator", job_id[:6], self.generator.name)
            return self._finish(base, "failed", error=f"The image generator failed: {exc}. Please try again.")
        progress.close()
        if progress.over:
            raise AttemptOver("the shop gave the job to another attempt")
        if cancelled():
            return self._finish(base, "cancelled")
        images = []
        for image in result.images:
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
            images.append(buffer.getvalue())
        outcome = self._finish(base, "done", images=images, seeds=list(result.seeds), labels=list(result.labels))
        self.jobs_done += 1
        return outcome

    def _post_progress(self, base: str, fraction: float, jpeg: bytes | None) -> dict:
        payload = {"fraction": round(min(max(fraction, 0.0), 1.0), 4)}
        if jpeg is None:
            return self.client.call("POST", f"{base}/progress", payload=payload, retry=False).json()
        return self.client.call("POST", f"{base}/progress", payload=payload, files={"preview": ("preview.jpg", jpeg)},
                                retry=False).json()

    def _finish(self, base: str, status: str, *, error: str | None = None, images: list[bytes] = (),
                seeds: list[int] = (), labels: list[str] = ()) -> str:
        payload = {"status": status, "generator": self.generator.name, "error": error or "",
                   "seeds": json.dumps(seeds), "labels": json.dumps(labels)}
        files = {f"image{index}": (f"{index}.png", data) for index, data in enumerate(images)}
        answer = self.client.call("POST", f"{base}/finish", payload=payload, files=files).json()
        return answer["status"]


def _image(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def _multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    """A multipart/form-data body: text fields, then (file name, bytes) files."""
    boundary = f"diamra-{secrets.token_hex(12)}"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
