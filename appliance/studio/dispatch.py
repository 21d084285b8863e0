"""How queued jobs reach the GPU workers.

`dispatcher = "sqlite"` (the default): the worker on the shop's box claims the next job
from the database itself; nothing here runs and nothing more is installed.

`dispatcher = "celery"`: the shop sends each queued job, in the queue's own order, as a
Celery task through Redis, to whichever GPU worker is free (`diamra worker --dispatcher
celery`, on this box or another). The shop's SQLite stays the record: a task carries only
the job's id; the worker takes the job over HTTP (appliance.studio.fleet), so a duplicate
or stale message finds the job taken or ended and is dropped. The dispatcher sends only
as many jobs as there are free workers plus one, so the queue's order and the positions
customers are shown stay the shop's; it sends again what Redis lost when it restarted
empty, requeues the job of a worker that fell silent, and revokes cancelled jobs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio import fleet
from appliance.studio.designs import shown

log = logging.getLogger(__name__)

QUEUE = "diamra"
TASK = "diamra.draw"
# Longer than any job could take (a 4-image SDXL round is seconds; a stuck one is caught
# by the shop's silence check long before): Redis hands an unacknowledged message to
# another worker only after this.
VISIBILITY_TIMEOUT = 6 * 3600


def celery_app(broker_url: str):
    """The Celery app both sides use, with the settings long GPU jobs want."""
    from celery import Celery
    app = Celery("diamra", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json", accept_content=["json"],
        task_ignore_result=True,
        # Acknowledged only when the job is over; a worker that dies mid-job leaves it unacknowledged.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One job at a time per GPU process, and no second one reserved while it draws.
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1},
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


class Dispatch:
    """The shop's side of `dispatcher = "celery"`: a thread in the web process."""

    def __init__(self, store: Store, broker_url: str, *, silent_seconds: float, max_attempts: int,
                 tick_seconds: float = 0.2, resend_after_seconds: float = 120, app=None,
                 housekeeping=None, housekeeping_every_seconds: float = 3600):
        self.store, self.broker_url = store, broker_url
        self.silent_seconds, self.max_attempts = silent_seconds, max_attempts
        self.tick_seconds, self.resend_after_seconds = tick_seconds, resend_after_seconds
        self.app = app or celery_app(broker_url)
        self.broker_ok = True
        self.sent = 0
        self._run_id: str | None = None
        self._revoked: set[str] = set()
        # The data folder's retention sweep, which the shop's own worker runs when it draws.
        self.housekeeping, self.housekeeping_every_seconds = housekeeping, housekeeping_every_seconds
        # The first sweep a minute after the start, not on the start's path.
        self._last = {"sweep": 0.0, "broker": 0.0,
                      "housekeeping": time.monotonic() - housekeeping_every_seconds + min(60, housekeeping_every_seconds)}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = datetime.now(UTC).isoformat()

    # ------------------------------------------------------------ the loop

    def start_thread(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run_forever, name="diamra-dispatch", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_forever(self) -> None:
        log.info("dispatching jobs to GPU workers through %s", _redacted(self.broker_url))
        # What Redis held before this start is unknown (it may have restarted too): send the
        # waiting jobs again; a duplicate finds its job taken and is dropped.
        with self.store.write() as db:
            db.execute(q.UNSEND_WAITING_JOBS)
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:          # the dispatcher must outlive a bad moment
                    log.exception("dispatch tick failed; trying again")
                    self._stop.wait(2)
                self._stop.wait(self.tick_seconds)
        finally:
            self.store.release_thread_connection()

    def tick(self) -> None:
        moment = time.monotonic()
        if moment - self._last["sweep"] >= 1.0:
            self._last["sweep"] = moment
            fleet.sweep(self.store, self.silent_seconds, self.max_attempts)
        if moment - self._last["broker"] >= 2.0:
            self._last["broker"] = moment
            self.watch_broker()
        self.revoke_cancelled()
        self.send()
        if self.housekeeping and moment - self._last["housekeeping"] >= self.housekeeping_every_seconds:
            self._last["housekeeping"] = moment
            try:
                self.housekeeping()
            except Exception:          # housekeeping never stops the dispatch
                log.exception("retention sweep failed; trying again in an hour")

    # ------------------------------------------------------------ the parts

    def send(self) -> int:
        """Send the next jobs in the queue's order: one for each free worker, plus one
        waiting so a worker that finishes finds its next job at once."""
        live, idle = fleet.live_capacity(self.store, self.silent_seconds)
        waiting = self.store.query_one(q.SENT_WAITING_JOBS)["n"]
        budget = idle + 1 - waiting
        if budget <= 0:
            return 0
        sent = 0
        for row in self.store.query(q.UNSENT_QUEUED_JOBS, {"limit": budget}):
            # A random task id: Celery logs it, and a job's id is a customer's capability.
            dispatch_id = uuid.uuid4().hex
            try:
                self.app.send_task(TASK, args=[row["id"]], task_id=dispatch_id, queue=QUEUE)
            except Exception as exc:
                if self.broker_ok:
                    log.error("cannot reach the broker (%s); jobs wait in the shop's queue until it is back", exc)
                self.broker_ok = False
                break
            if not self.broker_ok:
                log.info("the broker is reachable again")
            self.broker_ok = True
            with self.store.write() as db:
                db.execute(q.MARK_JOB_SENT, {"id": row["id"], "dispatch_id": dispatch_id, "now": now()})
            log.info("job %s sent to the GPU workers (%d live, %d free)", shown(row["id"]), live, idle)
            sent += 1
        self.sent += sent
        return sent

    def watch_broker(self) -> None:
        """Redis restarted empty (its run id changed): what it held is gone; send the
        waiting jobs again. A message that waited longer than a round takes is sent again
        too (a worker that took it may have been unable to reach the shop); a duplicate
        finds its job taken and is dropped."""
        run_id = self.broker_run_id()
        if run_id is not None and self._run_id is not None and run_id != self._run_id:
            with self.store.write() as db:
                count = db.execute(q.UNSEND_WAITING_JOBS).rowcount
            log.warning("the broker restarted; sending its %d waiting job(s) again", count)
        if run_id is not None:
            self._run_id = run_id
        before = (datetime.now(UTC) - timedelta(seconds=self.resend_after_seconds)).isoformat()
        with self.store.write() as db:
            db.execute(q.UNSEND_STALE_JOBS, {"before": before})

    def broker_run_id(self) -> str | None:
        import redis
        try:
            client = redis.Redis.from_url(self.broker_url, socket_timeout=2, socket_connect_timeout=2)
            try:
                return client.info("server")["run_id"]
            finally:
                client.close()
        except Exception as exc:
            if self.broker_ok:
                log.error("cannot reach the broker (%s)", exc)
            self.broker_ok = False
            return None

    def revoke_cancelled(self) -> None:
        """Cancelled jobs' messages are revoked: a worker that has not started one drops it;
        one drawing it hears of the cancel at its next step (fleet.progress answers it)."""
        rows = self.store.query(q.CANCELLED_SENT_JOBS, {"since": self._started})
        fresh = [row["dispatch_id"] for row in rows if row["dispatch_id"] not in self._revoked]
        if not fresh:
            return
        try:
            self.app.control.revoke(fresh)
        except Exception as exc:
            log.warning("could not revoke %d cancelled job(s) yet: %s", len(fresh), exc)
            return
        self._revoked.update(fresh)
        log.info("revoked %d cancelled job(s)", len(fresh))


def _redacted(url: str) -> str:
    """A broker address without its password, for the log."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
