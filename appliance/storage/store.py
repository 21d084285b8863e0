"""The only module with SQL. Named query constants, one connection per thread, WAL, and one
write path: every write runs inside BEGIN IMMEDIATE, so writers queue instead of failing
half-way.

Domain modules call `store.write()` / `store.query()` with the constants defined here;
tests can `EXPLAIN QUERY PLAN` the exact production query.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils


log = logging.getLogger(__name__)


def now() -> str:
    """The current UTC time as the ISO string every table stores."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class Store:
    """A SQLite database file: thread-local connections, reads and the one write path."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # One writer at a time in this process, queued on a Python lock: a waiting thread
        # wakes the moment the writer commits. Left to SQLite's busy handler, waiters
        # sleep in growing steps (up to 100 ms at a time) and the live price's tail grows
        # to hundreds of milliseconds under ten clients. Other processes (an external
        # worker, a backup) still meet the busy timeout.
        self._writer = threading.Lock()
        self._checkpointer: threading.Thread | None = None
        self._stop_checkpointing = threading.Event()

    def connection(self) -> sqlite_utils.Database:
        """This thread's connection, opened with WAL, foreign keys and a busy timeout."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=15)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            # NORMAL is safe from corruption in WAL mode; writes that must survive a power
            # cut (orders, accounts) ask for FULL through write(durable=True).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=15000")
            if self._checkpointer is not None:
                conn.execute("PRAGMA wal_autocheckpoint=0")
            db = sqlite_utils.Database(conn)
            self._local.db = db
            with self._lock:
                self._all.append(conn)
        return db

    def release_thread_connection(self) -> None:
        """Close this thread's connection (a thread that ends: a round's progress reporter),
        so a long-running process does not keep one open per thread it ever ran."""
        db = getattr(self._local, "db", None)
        if db is None:
            return
        self._local.db = None
        with self._lock:
            if db.conn in self._all:
                self._all.remove(db.conn)
        with contextlib.suppress(sqlite3.Error):     # closing one that failed already
            db.conn.close()

    def query(self, sql: str, params: dict | tuple = ()) -> list[dict]:
        """All rows of a read query, as dicts. Straight on the connection: each read is
        one statement (sqlite-utils' query would wrap it in a savepoint, three)."""
        cursor = self.connection().conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def query_one(self, sql: str, params: dict | tuple = ()) -> dict | None:
        """The first row of a read query, or None."""
        cursor = self.connection().conn.execute(sql, params)
        row = cursor.fetchone()
        cursor.close()
        return None if row is None else dict(zip([column[0] for column in cursor.description], row))

    @contextmanager
    def write(self, durable: bool = False):
        """A write transaction (BEGIN IMMEDIATE): commits on success, rolls back on error.
        `durable` syncs the commit to disk before returning (synchronous=FULL), for what a
        customer or jeweler was told is saved."""
        db = self.connection()
        conn = db.conn
        with self._writer:
            if durable:
                conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                if durable:
                    conn.execute("PRAGMA synchronous=NORMAL")

    def checkpoint_in_background(self, every_seconds: float = 1.0) -> None:
        """Move WAL checkpoints off the request path. By default the commit that pushes
        the WAL past 1,000 pages copies it back into the database and syncs the file, on
        the request's own time (tens of milliseconds, the live price's tail); here a
        thread does it every `every_seconds` instead (PASSIVE: it never blocks a reader or
        a writer), and the connections stop checkpointing on commit."""
        if self._checkpointer is not None:
            return
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, args=(every_seconds,),
                                              name="diamra-checkpoint", daemon=True)
        with self._lock:
            for conn in self._all:
                conn.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer.start()

    def _checkpoint_loop(self, every_seconds: float) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=15)
        try:
            while not self._stop_checkpointing.wait(every_seconds):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:      # tried again next time; never stops the shop
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def close(self) -> None:
        """Close every connection this store opened, in any thread."""
        self._stop_checkpointing.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


# Inside a write transaction: proves the database takes the write lock.
PING = "SELECT 1"

# ---------------------------------------------------------------- designs and images

INSERT_DESIGN = """
INSERT INTO designs (id, description, piece_type, spec_json, notes_json, unplaced_json, facts_json, details_json,
                     created_at, updated_at)
VALUES (:id, :description, :piece_type, :spec_json, :notes_json, :unplaced_json, :facts_json, :details_json, :now, :now)
"""
GET_DESIGN = "SELECT * FROM designs WHERE id = :id"
GET_DESIGN_SPEC = "SELECT spec_json, spec_revision FROM designs WHERE id = :id"
# Every change of the spec is a new revision; images and orders record the one they show.
UPDATE_DESIGN_SPEC = """
UPDATE designs SET spec_json = :spec_json, spec_revision = spec_revision + 1, updated_at = :now WHERE id = :id
RETURNING spec_revision
"""
# A new round: the chosen concept follows the newest round until the customer picks one.
CLEAR_DESIGN_SELECTION = "UPDATE designs SET selected_image_id = NULL, updated_at = :now WHERE id = :id"
SELECT_DESIGN_IMAGE = "UPDATE designs SET selected_image_id = :image_id, updated_at = :now WHERE id = :id"
# The rounds that drew images, each with what it started from (the version tree's nodes).
ROUNDS_FOR_DESIGN = """
SELECT id, instruction, parent_image_id, reference_id, mask_id, strength, spec_revision, created_at
FROM jobs WHERE design_id = :design_id AND status = 'done'
"""

# metal_check: what appliance.jewelry.metal_colour saw ('agrees' | 'disagrees' | 'unsure'; NULL
# for images stored before the check existed or when it could not run).
INSERT_IMAGE = """
INSERT INTO images (id, design_id, job_id, parent_id, instruction, path, seed, generator, label,
                    round, width, height, spec_json, spec_revision, metal_check, metal_check_reason, created_at)
VALUES (:id, :design_id, :job_id, :parent_id, :instruction, :path, :seed, :generator, :label,
        :round, :width, :height, :spec_json, :spec_revision, :metal_check, :metal_check_reason, :now)
"""
# Every image of a design, oldest round first: the version tree in display order.
IMAGES_FOR_DESIGN = "SELECT * FROM images WHERE design_id = :design_id ORDER BY round, created_at"
GET_IMAGE = "SELECT * FROM images WHERE id = :id"
IMAGES_FOR_JOB = "SELECT * FROM images WHERE job_id = :job_id ORDER BY created_at"
LAST_ROUND_FOR_DESIGN = "SELECT COALESCE(MAX(round), 0) AS round FROM images WHERE design_id = :design_id"

# ---------------------------------------------------------------- generation jobs

INSERT_JOB = """
INSERT INTO jobs (id, design_id, instruction, parent_image_id, reference_id, mask_id, strength, count, spec_json,
                  spec_revision, status, created_at)
SELECT :id, :design_id, :instruction, :parent_image_id, :reference_id, :mask_id, :strength, :count, spec_json,
       spec_revision, 'queued', :now
FROM designs WHERE id = :design_id
"""
JOB_OF_IMAGE = """
SELECT j.reference_id, j.mask_id FROM images AS i JOIN jobs AS j ON j.id = i.job_id WHERE i.id = :image_id
"""
JOB_PREVIEW = "UPDATE jobs SET preview_path = :preview_path WHERE id = :id AND status = 'running'"
GET_JOB = "SELECT * FROM jobs WHERE id = :id"
LATEST_JOB_FOR_DESIGN = "SELECT * FROM jobs WHERE design_id = :design_id ORDER BY created_at DESC LIMIT 1"
COUNT_OPEN_JOBS_FOR_DESIGN = """
SELECT COUNT(*) AS n FROM jobs WHERE design_id = :design_id AND status IN ('queued', 'running')
"""
# The next job to run: designs never served first, then the least recently served design,
# then the oldest job. With the per-design cap on waiting jobs, no customer starves another.
NEXT_QUEUED_JOB = """
SELECT j.id FROM jobs AS j
WHERE j.status = 'queued'
ORDER BY (SELECT MAX(k.started_at) FROM jobs AS k WHERE k.design_id = j.design_id) IS NOT NULL,
         (SELECT MAX(k.started_at) FROM jobs AS k WHERE k.design_id = j.design_id),
         j.created_at
LIMIT 1
"""
CLAIM_JOB = """
UPDATE jobs SET status = 'running', attempts = attempts + 1, worker_id = :worker_id,
       started_at = :now, heartbeat_at = :now, progress = 0
WHERE id = :id AND status = 'queued'
"""
JOB_PROGRESS = "UPDATE jobs SET progress = :progress, heartbeat_at = :now WHERE id = :id AND status = 'running'"
FINISH_JOB = """
UPDATE jobs SET status = :status, progress = CASE WHEN :status = 'done' THEN 1 ELSE progress END,
       error = :error, generator = :generator, finished_at = :now, preview_path = NULL
WHERE id = :id AND status = 'running'
"""
CANCEL_QUEUED_JOB = """
UPDATE jobs SET status = 'cancelled', finished_at = :now, preview_path = NULL WHERE id = :id AND status = 'queued'
"""
REQUEST_CANCEL = "UPDATE jobs SET cancel_requested = 1 WHERE id = :id AND status = 'running'"
JOB_CANCEL_REQUESTED = "SELECT cancel_requested FROM jobs WHERE id = :id"
JOBS_LEFT_RUNNING = "SELECT * FROM jobs WHERE status = 'running'"
REQUEUE_JOB = "UPDATE jobs SET status = 'queued', worker_id = NULL, progress = 0 WHERE id = :id AND status = 'running'"
FAIL_LEFT_RUNNING_JOB = """
UPDATE jobs SET status = 'failed', error = :error, finished_at = :now WHERE id = :id AND status = 'running'
"""
# Jobs waiting ahead of this one (0 = it is next).
# Every waiting job with when its design was last served: the queue as the worker will
# take it (NEXT_QUEUED_JOB's order), replayed in jobs.position.
QUEUED_WITH_SERVICE = """
SELECT j.id, j.design_id, j.created_at, j.dispatched_at,
       (SELECT MAX(k.started_at) FROM jobs AS k WHERE k.design_id = j.design_id) AS served_at
FROM jobs AS j WHERE j.status = 'queued'
"""
QUEUE_LENGTH = "SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running')"

# ---------------------------------------------------------------- mail outbox

INSERT_MAIL = """
INSERT INTO outbox (kind, order_number, to_address, subject, text_body, html_body, status, next_attempt_at,
                    created_at)
VALUES (:kind, :order_number, :to_address, :subject, :text_body, :html_body, 'pending', :now, :now)
"""
DUE_MAILS = """
SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= :now ORDER BY id LIMIT :limit
"""
MAIL_SENT = "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = :now, last_error = NULL WHERE id = :id"
MAIL_RETRY = """
UPDATE outbox SET attempts = attempts + 1, last_error = :error, next_attempt_at = :next_attempt_at,
       status = CASE WHEN attempts + 1 >= :max_attempts THEN 'failed' ELSE 'pending' END
WHERE id = :id
"""
# Pending mails that have failed at least once, and those given up on: what the desk shows.
TROUBLED_MAILS = """
SELECT * FROM outbox WHERE (status = 'pending' AND attempts > 0) OR status = 'failed' ORDER BY id DESC LIMIT 50
"""
RETRY_MAILS_NOW = """
UPDATE outbox SET status = 'pending', next_attempt_at = :now
WHERE (status = 'pending' AND attempts > 0) OR status = 'failed'
"""
MAILS_OF_ORDER = "SELECT * FROM outbox WHERE order_number = :number ORDER BY id"
ORDERS_OF_EMAIL = """
SELECT number, token, status, email, created_at FROM orders WHERE email = :email COLLATE NOCASE ORDER BY number DESC LIMIT 50
"""
DELETE_OLD_SENT_MAILS = "DELETE FROM outbox WHERE status = 'sent' AND sent_at < :cutoff"

# ---------------------------------------------------------------- retention

# A design nobody ordered, untouched (no spec change, no round) since the cutoff, with
# nothing queued or running. Anything an order refers to is never a candidate.
STALE_UNORDERED_DESIGNS = """
SELECT d.id FROM designs AS d
WHERE d.updated_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM orders AS o WHERE o.design_id = d.id)
  AND NOT EXISTS (SELECT 1 FROM order_versions AS v JOIN images AS i ON i.id = v.image_id
                  WHERE i.design_id = d.id)
  AND NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.design_id = d.id
                  AND (j.status IN ('queued', 'running') OR j.created_at >= :cutoff))
ORDER BY d.updated_at LIMIT :limit
"""
IMAGE_PATHS_OF_DESIGN = "SELECT path FROM images WHERE design_id = :design_id"
UPLOAD_PATHS_OF_DESIGN = "SELECT path FROM uploads WHERE design_id = :design_id"
# Deleting the design takes its jobs, images and uploads with it (ON DELETE CASCADE).
DELETE_DESIGN = "DELETE FROM designs WHERE id = :id"
# Failed and cancelled rounds drew nothing anyone can order; after the cutoff they go.
DELETE_OLD_EMPTY_JOBS = """
DELETE FROM jobs WHERE status IN ('failed', 'cancelled') AND finished_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM images AS i WHERE i.job_id = jobs.id)
"""
ENDED_JOB_PREVIEWS = "SELECT id, preview_path FROM jobs WHERE preview_path IS NOT NULL AND status != 'running'"
CLEAR_JOB_PREVIEW = "UPDATE jobs SET preview_path = NULL WHERE id = :id AND status != 'running'"
RUNNING_JOB_PREVIEWS = "SELECT preview_path FROM jobs WHERE preview_path IS NOT NULL AND status = 'running'"
ALL_IMAGE_PATHS = "SELECT path FROM images"
ALL_UPLOAD_PATHS = "SELECT path FROM uploads"

UPSERT_WORKER = """
INSERT INTO workers (id, generator, reason, started_at, heartbeat_at)
VALUES (:id, :generator, :reason, :now, :now)
ON CONFLICT(id) DO UPDATE SET generator = :generator, reason = :reason, heartbeat_at = :now
"""
WORKER_HEARTBEAT = "UPDATE workers SET heartbeat_at = :now WHERE id = :id"
LATEST_WORKER = "SELECT * FROM workers ORDER BY heartbeat_at DESC LIMIT 1"

# ---------------------------------------------------------------- GPU workers on other boxes (studio.fleet)

INSERT_WORKER_TOKEN = """
INSERT INTO worker_tokens (name, token_sha256, created_by, created_at) VALUES (:name, :sha256, :by, :now)
"""
WORKER_TOKEN_BY_HASH = "SELECT name FROM worker_tokens WHERE token_sha256 = :sha256"
WORKER_TOKEN_NAMED = "SELECT 1 FROM worker_tokens WHERE name = :name"
RUNNING_JOBS_OF_WORKER = "SELECT id, attempts FROM jobs WHERE worker_id = :id AND status = 'running'"
JOB_HOLDER = "SELECT status, worker_id, attempts, dispatch_id FROM jobs WHERE id = :id"
WORKER_TOKEN_NAMES = "SELECT name, created_by, created_at FROM worker_tokens ORDER BY name"
DELETE_WORKER_TOKEN = "DELETE FROM worker_tokens WHERE name = :name"
UPSERT_REMOTE_WORKER = """
INSERT INTO workers (id, kind, generator, reason, box, gpu, model, started_at, heartbeat_at)
VALUES (:id, 'remote', :generator, :reason, :box, :gpu, :model, :now, :now)
ON CONFLICT(id) DO UPDATE SET kind = 'remote', generator = :generator, reason = :reason, box = :box, gpu = :gpu,
       model = :model, heartbeat_at = :now
"""
DELETE_REMOTE_WORKER = "DELETE FROM workers WHERE id = :id AND kind = 'remote'"
ALL_WORKERS = """
SELECT w.*, (SELECT j.id FROM jobs AS j WHERE j.worker_id = w.id AND j.status = 'running' LIMIT 1) AS job_id
FROM workers AS w ORDER BY w.kind DESC, w.id
"""
LIVE_REMOTE_WORKERS = """
SELECT w.id, (SELECT COUNT(*) FROM jobs AS j WHERE j.worker_id = w.id AND j.status = 'running') AS running
FROM workers AS w WHERE w.kind = 'remote' AND w.heartbeat_at >= :since
"""
WORKER_JOB_DONE = "UPDATE workers SET jobs_done = jobs_done + 1, heartbeat_at = :now WHERE id = :id"
# The queue as staff read it (the Workers page, `diamra status`; appliance.ops.fleet_status):
# waiting jobs with when their design was last served, put in serving order as
# jobs.position replays NEXT_QUEUED_JOB, and the jobs being drawn with their worker.
WAITING_JOBS_FOR_STAFF = """
SELECT j.id, j.design_id, j.count, j.created_at, j.dispatched_at,
       (SELECT MAX(k.started_at) FROM jobs AS k WHERE k.design_id = j.design_id) AS served_at
FROM jobs AS j WHERE j.status = 'queued'
"""
RUNNING_JOBS_FOR_STAFF = """
SELECT id, design_id, count, worker_id, progress, attempts, cancel_requested, started_at, heartbeat_at
FROM jobs WHERE status = 'running' ORDER BY started_at, id
"""
# The shop's own worker counts no jobs_done (only remote workers report theirs): the jobs it ended.
JOBS_ENDED_BY_WORKER = """
SELECT COUNT(*) AS n FROM jobs WHERE worker_id = :id AND status IN ('done', 'failed', 'cancelled')
"""
# A remote worker takes the job it was sent: queued, or already its own on this attempt
# (a claim repeated after a lost answer).
CLAIM_SENT_JOB = """
UPDATE jobs SET status = 'running', attempts = attempts + 1, worker_id = :worker_id,
       started_at = :now, heartbeat_at = :now, progress = 0, dispatched_at = NULL,
       dispatch_id = COALESCE(:task, dispatch_id)
WHERE id = :id AND status = 'queued'
"""
REMOTE_JOB_PROGRESS = """
UPDATE jobs SET progress = :progress, heartbeat_at = :now
WHERE id = :id AND status = 'running' AND worker_id = :worker_id AND attempts = :attempt
"""
REMOTE_JOB_PREVIEW = """
UPDATE jobs SET preview_path = :preview_path
WHERE id = :id AND status = 'running' AND worker_id = :worker_id AND attempts = :attempt
"""
FINISH_REMOTE_JOB = """
UPDATE jobs SET status = :status, progress = CASE WHEN :status = 'done' THEN 1 ELSE progress END,
       error = :error, generator = :generator, finished_at = :now, preview_path = NULL
WHERE id = :id AND status = 'running' AND worker_id = :worker_id AND attempts = :attempt
"""
# Waiting jobs not yet sent to the broker, in the order the queue serves them (NEXT_QUEUED_JOB's).
UNSENT_QUEUED_JOBS = """
SELECT j.id FROM jobs AS j
WHERE j.status = 'queued' AND j.dispatched_at IS NULL
ORDER BY (SELECT MAX(k.started_at) FROM jobs AS k WHERE k.design_id = j.design_id) IS NOT NULL,
         (SELECT MAX(k.started_at) FROM jobs AS k WHERE k.design_id = j.design_id),
         j.created_at
LIMIT :limit
"""
SENT_WAITING_JOBS = "SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND dispatched_at IS NOT NULL"
MARK_JOB_SENT = """
UPDATE jobs SET dispatched_at = :now, dispatch_id = :dispatch_id WHERE id = :id AND status = 'queued'
"""
# The broker lost what it held (Redis restarted empty), or a message waited too long: send again.
UNSEND_WAITING_JOBS = "UPDATE jobs SET dispatched_at = NULL WHERE status = 'queued' AND dispatched_at IS NOT NULL"
UNSEND_STALE_JOBS = """
UPDATE jobs SET dispatched_at = NULL WHERE status = 'queued' AND dispatched_at IS NOT NULL AND dispatched_at < :before
"""
# Running jobs with no step reported for a while: their worker was killed, unplugged or cut
# off the LAN, or could not hand the images back.
SILENT_RUNNING_JOBS = """
SELECT id, attempts, cancel_requested, worker_id FROM jobs WHERE status = 'running' AND heartbeat_at < :before
"""
REQUEUE_SILENT_JOB = """
UPDATE jobs SET status = 'queued', worker_id = NULL, progress = 0, preview_path = NULL, dispatched_at = NULL
WHERE id = :id AND status = 'running' AND attempts = :attempt
"""
FAIL_SILENT_JOB = """
UPDATE jobs SET status = 'failed', error = :error, finished_at = :now, preview_path = NULL
WHERE id = :id AND status = 'running' AND attempts = :attempt
"""
CANCELLED_SENT_JOBS = """
SELECT id, dispatch_id FROM jobs
WHERE dispatch_id IS NOT NULL
  AND (cancel_requested = 1 AND status = 'running' OR status = 'cancelled' AND finished_at >= :since)
"""

INSERT_UPLOAD = """
INSERT INTO uploads (id, design_id, kind, path, width, height, created_at)
VALUES (:id, :design_id, :kind, :path, :width, :height, :now)
"""
GET_UPLOAD = "SELECT * FROM uploads WHERE id = :id"

# ---------------------------------------------------------------- price books

LATEST_PRICE_BOOK = "SELECT * FROM price_books ORDER BY version DESC LIMIT 1"
GET_PRICE_BOOK = "SELECT * FROM price_books WHERE version = :version"
PRICE_BOOK_VERSIONS = "SELECT version, created_at, created_by FROM price_books ORDER BY version DESC"
INSERT_PRICE_BOOK = """
INSERT INTO price_books (book_json, created_at, created_by) VALUES (:book_json, :now, :created_by)
"""

# ---------------------------------------------------------------- orders

NEXT_ORDER_NUMBER = "SELECT COALESCE(MAX(number), 1000) + 1 AS number FROM orders"
INSERT_ORDER = """
INSERT INTO orders (number, token, design_id, status, customer_name, email, phone, notes,
                    current_version, idempotency_key, created_at, updated_at)
VALUES (:number, :token, :design_id, 'submitted', :customer_name, :email, :phone, :notes, 1, :idempotency_key,
        :now, :now)
"""
INSERT_ORDER_VERSION = """
INSERT INTO order_versions (order_number, version, image_id, description, spec_json, spec_revision, quote_json,
                            created_at)
VALUES (:number, :version, :image_id, :description, :spec_json, :spec_revision, :quote_json, :now)
"""
# The order an earlier request with the same Idempotency-Key made for this design.
ORDER_BY_IDEMPOTENCY_KEY = """
SELECT number FROM orders WHERE design_id = :design_id AND idempotency_key = :idempotency_key
"""
INSERT_ORDER_EVENT = """
INSERT INTO order_events (order_number, kind, from_status, to_status, body, actor, actor_name, created_at)
VALUES (:number, :kind, :from_status, :to_status, :body, :actor, :actor_name, :now)
"""
UPDATE_ORDER_STATUS = """
UPDATE orders SET status = :to_status, updated_at = :now WHERE number = :number AND status = :from_status
"""
BUMP_ORDER_VERSION = """
UPDATE orders SET current_version = :version, status = 'submitted', updated_at = :now
WHERE number = :number AND status = 'changes_requested'
"""
TOUCH_ORDER = "UPDATE orders SET updated_at = :now WHERE number = :number"
GET_ORDER_BY_TOKEN = "SELECT * FROM orders WHERE token = :token"
GET_ORDER_BY_NUMBER = "SELECT * FROM orders WHERE number = :number"
# The inbox: newest first, with the current version's image for the thumbnail.
# The inbox: one status or all, a search over the number, the contact and the words, and
# when the customer last did something (an order, a message, a revision) for the unread mark.
# {order} is one of ORDER_SORTS, never anything a client typed.
LIST_ORDERS = """
SELECT o.*, v.image_id, v.quote_json, v.spec_json, v.description,
       (SELECT MAX(e.created_at) FROM order_events AS e
        WHERE e.order_number = o.number AND e.actor = 'customer') AS customer_at
FROM orders AS o
JOIN order_versions AS v ON v.order_number = o.number AND v.version = o.current_version
WHERE (:status IS NULL OR o.status = :status)
  AND (:query IS NULL OR CAST(o.number AS TEXT) = :query OR o.customer_name LIKE :like ESCAPE '\\'
       OR o.email LIKE :like ESCAPE '\\' OR o.phone LIKE :like ESCAPE '\\' OR v.description LIKE :like ESCAPE '\\')
ORDER BY {order}
LIMIT :limit
"""
ORDER_SORTS = {
    "newest": "o.created_at DESC",
    "oldest": "o.created_at ASC",
    "updated": "o.updated_at DESC",
    "number": "o.number DESC",
}
STATUS_COUNTS = "SELECT status, COUNT(*) AS n FROM orders GROUP BY status"
SET_ORDER_STAGE = "UPDATE orders SET stage = :stage, updated_at = :now WHERE number = :number AND status = 'in_production'"
SET_ORDER_PLAN = "UPDATE orders SET due_date = :due_date, assigned_to = :assigned_to, updated_at = :now WHERE number = :number"
SET_ORDER_DEPOSIT = """
UPDATE orders SET deposit_received = :amount, deposit_received_on = :received_on, deposit_method = :method,
       updated_at = :now
WHERE number = :number
"""
INSERT_ATTACHMENT = """
INSERT INTO attachments (id, order_number, kind, path, media_type, filename, size_bytes, shown_to_customer, note,
                         created_by, created_at)
VALUES (:id, :number, :kind, :path, :media_type, :filename, :size_bytes, :shown, :note, :created_by, :now)
"""
GET_ATTACHMENT = "SELECT * FROM attachments WHERE id = :id"
ATTACHMENTS_OF_ORDER = "SELECT * FROM attachments WHERE order_number = :number ORDER BY created_at"
APPROVE_ATTACHMENT = "UPDATE attachments SET approved_at = :now WHERE id = :id AND approved_at IS NULL"
ACTIVE_STAFF_NAMES = "SELECT username FROM users WHERE disabled = 0 ORDER BY username"
MARK_ORDER_SEEN = "UPDATE orders SET staff_seen_at = :now WHERE number = :number"
OTHER_ORDERS_OF_EMAIL = """
SELECT number, status, created_at FROM orders WHERE email = :email COLLATE NOCASE AND number != :number
ORDER BY number DESC LIMIT 20
"""
ORDER_VERSIONS = "SELECT * FROM order_versions WHERE order_number = :number ORDER BY version"
ORDER_EVENTS = "SELECT * FROM order_events WHERE order_number = :number ORDER BY id"

# ---------------------------------------------------------------- staff accounts

INSERT_USER = """
INSERT INTO users (username, password_hash, role, created_at) VALUES (:username, :password_hash, :role, :now)
"""
GET_USER_BY_NAME = "SELECT * FROM users WHERE username = :username"
GET_USER = "SELECT * FROM users WHERE id = :id"
LIST_USERS = "SELECT username, role, disabled, created_at FROM users ORDER BY username"
UPDATE_USER_PASSWORD = "UPDATE users SET password_hash = :password_hash WHERE id = :id"
INSERT_SESSION = """
INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
VALUES (:token_hash, :user_id, :csrf_token, :now, :expires_at)
"""
# A live session and its user; expired sessions and disabled users never match.
GET_SESSION_USER = """
SELECT s.token_hash, s.csrf_token, s.expires_at, u.id AS user_id, u.username, u.role
FROM sessions AS s JOIN users AS u ON u.id = s.user_id
WHERE s.token_hash = :token_hash AND s.expires_at > :now AND u.disabled = 0
"""
DELETE_SESSION = "DELETE FROM sessions WHERE token_hash = :token_hash"
DELETE_EXPIRED_SESSIONS = "DELETE FROM sessions WHERE expires_at <= :now"
SESSIONS_OF_USER = """
SELECT token_hash, created_at, expires_at FROM sessions WHERE user_id = :user_id AND expires_at > :now
ORDER BY created_at DESC
"""
DELETE_SESSION_OF_USER = "DELETE FROM sessions WHERE user_id = :user_id AND substr(token_hash, 1, 16) = :short"
DELETE_SESSIONS_OF_USER = "DELETE FROM sessions WHERE user_id = :user_id AND token_hash != :keep"
SET_USER_ROLE = "UPDATE users SET role = :role WHERE username = :username"
SET_USER_DISABLED = "UPDATE users SET disabled = :disabled WHERE username = :username"
COUNT_ACTIVE_ADMINS = "SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0"
INSERT_AUDIT = "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (:now, :actor, :action, :target, :detail)"
RECENT_AUDIT = "SELECT * FROM audit_log ORDER BY id DESC LIMIT :limit"

# ---------------------------------------------------------------- in-store kiosks

INSERT_KIOSK = """
INSERT INTO kiosks (name, pairing_hash, pairing_expires_at, visit_id, created_at, created_by)
VALUES (:name, :pairing_hash, :pairing_expires_at, :visit_id, :now, :created_by)
"""
# The kiosks the desk lists: the live ones first, then the revoked ones, newest first.
LIST_KIOSKS = """
SELECT id, name, paired_at, pairing_expires_at, created_at, created_by, revoked_at, revoked_by FROM kiosks
ORDER BY revoked_at IS NOT NULL, created_at DESC LIMIT 200
"""
LIVE_KIOSK_BY_NAME = "SELECT * FROM kiosks WHERE name = :name COLLATE NOCASE AND revoked_at IS NULL"
# Opening the pairing link: once, before it expires, for a kiosk not revoked. The
# UPDATE's WHERE is the check, so two opens at once cannot both pair.
PAIR_KIOSK = """
UPDATE kiosks SET paired_at = :now, secret_hash = :secret_hash, visit_seen_at = :now
WHERE pairing_hash = :pairing_hash AND paired_at IS NULL AND revoked_at IS NULL AND pairing_expires_at > :now
RETURNING id, name
"""
KIOSK_BY_PAIRING = "SELECT name, paired_at, revoked_at, pairing_expires_at FROM kiosks WHERE pairing_hash = :pairing_hash"
# Every request from a paired screen: its secret's hash names it, until it is revoked.
PAIRED_KIOSK = """
SELECT id, name, visit_id, visit_seen_at FROM kiosks WHERE secret_hash = :secret_hash AND revoked_at IS NULL
"""
# A request from the kiosk, noted at most every half minute (not a write per request);
# the visit must still be the one the request saw.
KIOSK_VISIT_SEEN = "UPDATE kiosks SET visit_seen_at = :now WHERE id = :id AND visit_id = :visit_id"
REVOKE_KIOSK = """
UPDATE kiosks SET revoked_at = :now, revoked_by = :revoked_by WHERE id = :id AND revoked_at IS NULL
"""
NOTE_KIOSK_DESIGN = """
INSERT OR IGNORE INTO kiosk_visit_designs (kiosk_id, visit_id, design_id, created_at)
VALUES (:kiosk_id, :visit_id, :design_id, :now)
"""
KIOSK_VISIT_DESIGNS = """
SELECT k.design_id, d.description FROM kiosk_visit_designs AS k JOIN designs AS d ON d.id = k.design_id
WHERE k.kiosk_id = :kiosk_id AND k.visit_id = :visit_id ORDER BY k.created_at DESC LIMIT 5
"""
# Starting over: the kiosk forgets its customer's designs and takes a new anonymous visit.
FORGET_KIOSK_DESIGNS = "DELETE FROM kiosk_visit_designs WHERE kiosk_id = :kiosk_id"
NEW_KIOSK_VISIT = "UPDATE kiosks SET visit_id = :visit_id, visit_seen_at = :now WHERE id = :id AND revoked_at IS NULL"
# The visit a kiosk has now, read again inside the write that may end it (two requests
# after a long silence must not both start over, the second forgetting the first's design).
KIOSK_VISIT = "SELECT visit_id, visit_seen_at FROM kiosks WHERE id = :id AND revoked_at IS NULL"

# --- the store's own styles (appliance.studio.styles)
GET_STYLE = "SELECT * FROM styles WHERE id = :id"
GET_STYLE_BY_NAME = "SELECT * FROM styles WHERE name = :name"
LIST_STYLES = "SELECT * FROM styles ORDER BY created_at DESC"
INSERT_STYLE = """
INSERT INTO styles (id, name, trigger, status, steps, created_by, created_at, updated_at)
VALUES (:id, :name, :trigger, 'collecting', :steps, :actor, :now, :now)
"""
TOUCH_STYLE = "UPDATE styles SET updated_at = :now WHERE id = :id"
SET_STYLE_STEPS = "UPDATE styles SET steps = :steps, updated_at = :now WHERE id = :id"
PHOTOS_OF_STYLE = "SELECT * FROM style_photos WHERE style_id = :style_id ORDER BY created_at, id"
GET_STYLE_PHOTO = "SELECT * FROM style_photos WHERE id = :id AND style_id = :style_id"
# Photos change only while the style is not waiting or training (checked in the write itself).
_STYLE_EDITABLE = "EXISTS (SELECT 1 FROM styles WHERE id = :style_id AND status IN ('collecting', 'failed', 'cancelled'))"
INSERT_STYLE_PHOTO = f"""
INSERT INTO style_photos (id, style_id, path, original_name, sha256, fingerprint, width, height, line, spec_json,
                          caption, created_at)
SELECT :id, :style_id, :path, :original_name, :sha256, :fingerprint, :width, :height, :line, :spec_json,
       :caption, :now
WHERE {_STYLE_EDITABLE}
"""
CONFIRM_STYLE_PHOTO = f"""
UPDATE style_photos SET line = :line, spec_json = :spec_json, caption = :caption, confirmed_by = :actor,
       confirmed_at = :now
WHERE id = :id AND style_id = :style_id AND {_STYLE_EDITABLE}
"""
DELETE_STYLE_PHOTO = f"DELETE FROM style_photos WHERE id = :id AND style_id = :style_id AND {_STYLE_EDITABLE}"
RESET_STYLE_PROGRESS = "UPDATE styles SET step = 0, loss = NULL, updated_at = :now WHERE id = :id AND step > 0"
DELETE_STYLE_LOSSES = "DELETE FROM style_losses WHERE style_id = :style_id"
DELETE_STYLE_SAMPLES = "DELETE FROM style_samples WHERE style_id = :style_id"
DELETE_STYLE = "DELETE FROM styles WHERE id = :id"
# Training again after a stop or a failure carries on from the kept checkpoint.
QUEUE_STYLE = """
UPDATE styles SET status = 'queued', cancel_requested = 0, error = NULL, queued_at = :now, finished_at = NULL,
       updated_at = :now
WHERE id = :id AND status IN ('collecting', 'failed', 'cancelled')
  AND NOT EXISTS (SELECT 1 FROM style_photos WHERE style_id = :id AND confirmed_at IS NULL)
"""
CANCEL_STYLE = """
UPDATE styles SET cancel_requested = 1,
       status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
       finished_at = CASE WHEN status = 'queued' THEN :now ELSE finished_at END, updated_at = :now
WHERE id = :id AND status IN ('queued', 'training')
"""
NEXT_QUEUED_STYLE = "SELECT id FROM styles WHERE status = 'queued' ORDER BY queued_at, id LIMIT 1"
CLAIM_STYLE = """
UPDATE styles SET status = 'training', worker_id = :worker_id, heartbeat_at = :now,
       started_at = COALESCE(started_at, :now), updated_at = :now
WHERE id = :id AND status = 'queued'
"""
REQUEUE_TRAINING_STYLES = """
UPDATE styles SET status = 'queued', worker_id = NULL, updated_at = :now WHERE status = 'training'
"""
PAUSE_STYLE = """
UPDATE styles SET status = 'queued', worker_id = NULL, updated_at = :now WHERE id = :id AND status = 'training'
"""
INSERT_STYLE_LOSS = "INSERT OR REPLACE INTO style_losses (style_id, step, loss) VALUES (:style_id, :step, :loss)"
LOSSES_OF_STYLE = "SELECT step, loss FROM style_losses WHERE style_id = :style_id ORDER BY step"
STYLE_PROGRESS = """
UPDATE styles SET step = :step, loss = :loss, heartbeat_at = :now, updated_at = :now
WHERE id = :id AND status = 'training'
"""
INSERT_STYLE_SAMPLE = """
INSERT OR REPLACE INTO style_samples (style_id, step, prompt_index, path, created_at)
VALUES (:style_id, :step, :prompt_index, :path, :now)
"""
SAMPLES_OF_STYLE = "SELECT step, prompt_index, path FROM style_samples WHERE style_id = :style_id ORDER BY step, prompt_index"
STYLE_CANCEL_REQUESTED = "SELECT cancel_requested FROM styles WHERE id = :id"
FINISH_STYLE = """
UPDATE styles SET status = :status, error = :error, lora_sha256 = COALESCE(:sha256, lora_sha256),
       finished_at = :now, worker_id = NULL, cancel_requested = 0, updated_at = :now
WHERE id = :id
"""
ANY_QUEUED_JOB = "SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1"
