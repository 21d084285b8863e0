"""`diamra worker add|list|remove` (the shop's GPU workers and their tokens) and
`diamra worker --dispatcher celery` (a GPU worker taking jobs from Celery): the
composition root of appliance.studio.fleet, dispatch and remote_worker."""

from __future__ import annotations

import getpass
import logging
import os
import platform
import signal
import sys
from pathlib import Path

from appliance.config import Settings
from appliance.errors import Conflict, Invalid, NotFound

log = logging.getLogger(__name__)


def cmd_worker_add(settings: Settings, store, name: str, token_file: str | None) -> int:
    from appliance.studio import fleet
    try:
        token = fleet.add_worker(store, name, by=f"console:{getpass.getuser()}")
    except (Invalid, Conflict) as exc:
        print(getattr(exc, "message", str(exc)), file=sys.stderr)
        return 2
    if token_file:
        path = Path(token_file)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)             # a file that was there keeps no wider mode
        with os.fdopen(descriptor, "w") as handle:
            handle.write(token + "\n")
        print(f"GPU worker {name} added; its token is in {path} (readable by you alone).")
    else:
        print(f"GPU worker {name} added. Its token, shown this once:\n\n  {token}\n")
    print("On the worker box, put the token in a file only root can read, then:\n"
          f"  sudo ./install.sh production --gpu-worker --shop http://THIS-SHOP:{settings.staff_port} "
          "--broker-url REDIS-URL --token-file FILE\n"
          "REDIS-URL is broker_url in this shop's settings (it holds Redis's password: keep it like the token).")
    if settings.dispatcher != "celery":
        print("This shop still claims jobs itself (dispatcher = \"sqlite\"): set dispatcher = \"celery\" and "
              "broker_url in its settings (./install.sh production --dispatcher celery does both).")
    return 0


def cmd_worker_list(store) -> int:
    from appliance.studio import fleet
    names = fleet.worker_names(store)
    seen = {row["id"]: row for row in fleet.workers(store)}
    if not names:
        print("No GPU workers on other boxes (add one with: diamra worker add NAME).")
    for entry in names:
        row = seen.get(entry["name"])
        if row is None:
            print(f"{entry['name']}: never heard from (added {entry['created_at'][:16]} by {entry['created_by']})")
            continue
        doing = f"drawing job {row['job_id'][:6]}…" if row["job_id"] else "free"
        print(f"{entry['name']}: {row['box'] or '?'}, {row['gpu'] or '?'}, {row['generator']} "
              f"({row['model'] or row['reason']}), {doing}, {row['jobs_done']} jobs done, "
              f"last heard {row['silent_seconds']:.0f} s ago")
    return 0


def cmd_worker_remove(store, name: str) -> int:
    from appliance.studio import fleet
    try:
        fleet.remove_worker(store, name)
    except NotFound as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"GPU worker {name} removed: its token no longer works; a job it was drawing is queued again.")
    return 0


def read_token(path_text: str) -> str:
    if not path_text:
        raise SystemExit("A GPU worker needs its token: --token-file FILE (or worker_token_file in the settings), "
                         "the file `diamra worker add NAME` wrote on the shop.")
    path = Path(path_text)
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise SystemExit(f"Cannot read the worker token file {path}: {exc.strerror}.") from None
    if not token:
        raise SystemExit(f"The worker token file {path} is empty.")
    return token


def run_celery_worker(settings: Settings, shop_url: str, token_file: str) -> int:
    """Draw the jobs Celery hands this box until stopped (SIGTERM ends after the current job)."""
    from appliance.studio import dispatch
    from appliance.studio.remote_worker import (
        Refused,
        RemoteWorker,
        ShopClient,
        ShopUnreachable,
        TokenRefused,
    )
    from appliance.studio.worker import systemd_notify
    from pipelines.base import GenerationRequest
    from pipelines.registry import create, device_name

    if not settings.broker_url:
        raise SystemExit("A Celery worker needs broker_url, the shop's Redis (redis://:PASSWORD@SHOP:6379/0).")
    if not shop_url:
        raise SystemExit("A Celery worker needs --shop URL (or shop_url in the settings): the shop's staff address.")
    token = read_token(token_file)
    generator, reason = create(settings.generator, settings)
    remote = RemoteWorker(ShopClient(shop_url, token), generator, new_request=GenerationRequest,
                          generator_reason=reason, image_size=settings.image_size,
                          model=_model_words(settings, generator), gpu=device_name())
    try:
        name = remote.announce()             # a wrong token or address fails now, before minutes of loading
    except Refused as exc:
        raise SystemExit(f"The shop refused this worker: {exc.detail}") from None
    except ShopUnreachable as exc:
        raise SystemExit(f"Cannot reach the shop: {exc}") from None
    systemd_notify("EXTEND_TIMEOUT_USEC=1800000000")
    generator.load()
    remote.announce()
    log.info("GPU worker %s loaded the %s generator (%s)", name, generator.name, reason)

    def stop_for_good(why: str) -> None:
        # Removed on the shop: stop taking jobs (a warm shutdown; systemd leaves it stopped).
        log.error("GPU worker %s stops: the shop refused its token (%s); diamra worker add gives a new one",
                  name, why)
        os.kill(os.getpid(), signal.SIGTERM)

    app = dispatch.celery_app(settings.broker_url)

    @app.task(name=dispatch.TASK, bind=True)
    def draw(task, job_id: str) -> str:
        from celery.exceptions import Reject
        from celery.worker import state
        try:
            return remote.draw(job_id, revoked=lambda: task.request.id in state.revoked, task=task.request.id)
        except TokenRefused as exc:
            stop_for_good(str(exc))
            raise Reject(f"this worker's token was refused: {exc}", requeue=True) from None
        except ShopUnreachable as exc:
            # The job stays the shop's: the message goes back for a worker that reaches it.
            raise Reject(str(exc), requeue=True) from None
        except BaseException:
            if remote.fatal is not None:
                # The card is unusable: leave at once, the message unacknowledged; the shop
                # sends the job to another worker when this one falls silent.
                log.critical("the device failed: %s; exiting for systemd to restart this worker", remote.fatal)
                os._exit(3)
            raise

    def on_ready(**_):
        # Alive to the shop only once Celery takes jobs: a box that cannot reach Redis (a
        # wrong password, say) falls silent on the Workers page instead of looking free.
        remote.keep_announcing(on_refused=stop_for_good)
        log.info("GPU worker %s ready", name)
        systemd_notify("READY=1")
    from celery.signals import worker_ready
    worker_ready.connect(on_ready, weak=False)
    argv = ["worker", "--pool=solo", "--concurrency=1", "--prefetch-multiplier=1", f"--queues={dispatch.QUEUE}",
            f"--hostname={name}@{platform.node() or 'box'}", "--without-gossip", "--without-mingle",
            "--loglevel=INFO"]
    try:
        app.worker_main(argv)
    finally:
        remote.stop()
    return 0


def _model_words(settings: Settings, generator) -> str:
    """The model this worker draws with, as the dashboard lists it."""
    if generator.name != "sdxl":
        return generator.name
    try:
        from appliance.ops.models import ModelStore
        lock = ModelStore(settings.models_dir, settings.manifest_path).lock()
        base = lock.get("models", {}).get("base", {})
        if not base:
            return "SDXL (base model not installed)"
        return f"{base.get('repo') or 'SDXL base'} {str(base.get('revision') or base.get('source') or '')[:12]}".strip()
    except Exception:
        return "SDXL"
