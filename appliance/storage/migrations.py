"""Schema versions. Each migration and its record are applied in one transaction, and a
database that already holds data is backed up (online SQLite backup) before it changes.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "designs, jobs, images, orders, price books, staff", """
CREATE TABLE designs (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    piece_type TEXT,
    spec_json TEXT NOT NULL,
    notes_json TEXT NOT NULL DEFAULT '[]',
    unplaced_json TEXT NOT NULL DEFAULT '[]',
    selected_image_id TEXT REFERENCES images(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    design_id TEXT NOT NULL REFERENCES designs(id) ON DELETE CASCADE,
    instruction TEXT,
    parent_image_id TEXT REFERENCES images(id),
    count INTEGER NOT NULL CHECK (count BETWEEN 1 AND 8),
    spec_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    progress REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    worker_id TEXT,
    generator TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    heartbeat_at TEXT,
    finished_at TEXT
);
CREATE INDEX jobs_by_status ON jobs (status, created_at);
CREATE INDEX jobs_by_design ON jobs (design_id, started_at);
CREATE TABLE images (
    id TEXT PRIMARY KEY,
    design_id TEXT NOT NULL REFERENCES designs(id) ON DELETE CASCADE,
    job_id TEXT REFERENCES jobs(id),
    parent_id TEXT REFERENCES images(id),
    instruction TEXT,
    path TEXT NOT NULL,
    seed INTEGER NOT NULL,
    generator TEXT NOT NULL,
    label TEXT,
    round INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    spec_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX images_by_design ON images (design_id, round);
CREATE INDEX images_by_job ON images (job_id);
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    generator TEXT NOT NULL,
    reason TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
CREATE TABLE price_books (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    book_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT
);
CREATE TABLE orders (
    number INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    design_id TEXT NOT NULL REFERENCES designs(id),
    status TEXT NOT NULL CHECK (status IN ('submitted', 'accepted', 'changes_requested', 'declined',
                                           'in_production', 'ready', 'completed', 'cancelled')),
    customer_name TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT,
    notes TEXT,
    current_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX orders_by_created ON orders (created_at);
CREATE INDEX orders_by_status ON orders (status, created_at);
CREATE TABLE order_versions (
    order_number INTEGER NOT NULL REFERENCES orders(number),
    version INTEGER NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id),
    description TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    quote_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (order_number, version)
);
-- The quote an order was placed with is a promise: it never changes afterwards.
CREATE TRIGGER order_versions_are_immutable BEFORE UPDATE ON order_versions
BEGIN SELECT RAISE(ABORT, 'order versions are immutable'); END;
CREATE TRIGGER order_versions_are_kept BEFORE DELETE ON order_versions
BEGIN SELECT RAISE(ABORT, 'order versions are immutable'); END;
CREATE TABLE order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_number INTEGER NOT NULL REFERENCES orders(number),
    kind TEXT NOT NULL CHECK (kind IN ('status', 'message')),
    from_status TEXT,
    to_status TEXT,
    body TEXT,
    actor TEXT NOT NULL CHECK (actor IN ('customer', 'staff', 'system')),
    actor_name TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX order_events_by_order ON order_events (order_number, id);
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'jeweler')),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
"""),
    (2, "uploaded reference photos and masks; job previews", """
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    design_id TEXT NOT NULL REFERENCES designs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('reference', 'mask')),
    path TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX uploads_by_design ON uploads (design_id);
ALTER TABLE jobs ADD COLUMN reference_id TEXT REFERENCES uploads(id);
ALTER TABLE jobs ADD COLUMN mask_id TEXT REFERENCES uploads(id);
ALTER TABLE jobs ADD COLUMN preview_path TEXT;
"""),
    (3, "what the reader understood from the words, and the design details it could not hold", """
ALTER TABLE designs ADD COLUMN facts_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE designs ADD COLUMN details_json TEXT NOT NULL DEFAULT '[]';
"""),
    (4, "spec revisions on designs, rounds, images and order versions; idempotent orders", """
ALTER TABLE designs ADD COLUMN spec_revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN spec_revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE images ADD COLUMN spec_revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE order_versions ADD COLUMN spec_revision INTEGER;
ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX orders_by_idempotency_key ON orders (design_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
"""),
    (5, "the mail outbox: written with the event it announces, sent after commit", """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    order_number INTEGER REFERENCES orders(number),
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_order ON outbox (order_number);
"""),
    (6, "when the desk last looked at each order (unread markers)", """
ALTER TABLE orders ADD COLUMN staff_seen_at TEXT;
CREATE INDEX order_events_by_actor ON order_events (order_number, actor, created_at);
"""),
    (7, "the bench: production stage, due date, assigned jeweler and the deposit received", """
ALTER TABLE orders ADD COLUMN stage TEXT;
ALTER TABLE orders ADD COLUMN due_date TEXT;
ALTER TABLE orders ADD COLUMN assigned_to TEXT;
ALTER TABLE orders ADD COLUMN deposit_received TEXT;
ALTER TABLE orders ADD COLUMN deposit_received_on TEXT;
ALTER TABLE orders ADD COLUMN deposit_method TEXT;
-- The timeline gains stage, plan and deposit events: SQLite keeps a CHECK for good, so
-- the table is rebuilt with the wider one (every row copied as it was).
CREATE TABLE order_events_wide (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_number INTEGER NOT NULL REFERENCES orders(number),
    kind TEXT NOT NULL CHECK (kind IN ('status', 'message', 'stage', 'plan', 'deposit', 'attachment',
                                       'approval')),
    from_status TEXT,
    to_status TEXT,
    body TEXT,
    actor TEXT NOT NULL CHECK (actor IN ('customer', 'staff', 'system')),
    actor_name TEXT,
    created_at TEXT NOT NULL
);
INSERT INTO order_events_wide (id, order_number, kind, from_status, to_status, body, actor, actor_name, created_at)
    SELECT id, order_number, kind, from_status, to_status, body, actor, actor_name, created_at FROM order_events;
DROP TABLE order_events;
ALTER TABLE order_events_wide RENAME TO order_events;
CREATE INDEX order_events_by_order ON order_events (order_number, id);
CREATE INDEX order_events_by_actor ON order_events (order_number, actor, created_at);
-- Files from the bench (a photo, a CAD render, a PDF) on an order's timeline.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    order_number INTEGER NOT NULL REFERENCES orders(number),
    kind TEXT NOT NULL CHECK (kind IN ('photo', 'cad', 'pdf')),
    path TEXT NOT NULL,
    media_type TEXT NOT NULL,
    filename TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    shown_to_customer INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    approved_at TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX attachments_by_order ON attachments (order_number, created_at);
"""),
    (8, "the audit log: who changed what on the desk", """
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE TRIGGER audit_log_is_kept BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_is_not_deleted BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""),
    (9, "in-store kiosks: pairing, the paired screen's secret, and the designs of its current customer", """
CREATE TABLE kiosks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    pairing_hash TEXT NOT NULL UNIQUE,
    pairing_expires_at TEXT NOT NULL,
    paired_at TEXT,
    secret_hash TEXT UNIQUE,
    visit_id TEXT NOT NULL,
    visit_seen_at TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT
);
CREATE UNIQUE INDEX kiosks_live_name ON kiosks (name COLLATE NOCASE) WHERE revoked_at IS NULL;
CREATE TABLE kiosk_visit_designs (
    kiosk_id INTEGER NOT NULL REFERENCES kiosks(id) ON DELETE CASCADE,
    visit_id TEXT NOT NULL,
    design_id TEXT NOT NULL REFERENCES designs(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kiosk_id, design_id)
);
CREATE INDEX kiosk_visit_designs_by_design ON kiosk_visit_designs (design_id);
"""),
    (10, "how different a 'more like this' round may be from the concept or photo it starts from", """
ALTER TABLE jobs ADD COLUMN strength TEXT CHECK (strength IS NULL OR strength IN ('little', 'more', 'very'));
"""),
    (11, "whether each concept's metal colour looks like the spec's metal, and why", """
ALTER TABLE images ADD COLUMN metal_check TEXT
    CHECK (metal_check IS NULL OR metal_check IN ('agrees', 'disagrees', 'unsure'));
ALTER TABLE images ADD COLUMN metal_check_reason TEXT;
"""),
    (12, "the store's own styles: photos with confirmed specs, LoRA training as a low-priority job, losses and samples", """
CREATE TABLE styles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('collecting', 'queued', 'training', 'trained', 'failed', 'cancelled')),
    steps INTEGER NOT NULL CHECK (steps > 0),
    step INTEGER NOT NULL DEFAULT 0,
    loss REAL,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    worker_id TEXT,
    heartbeat_at TEXT,
    lora_sha256 TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    queued_at TEXT,
    started_at TEXT,
    finished_at TEXT
);
CREATE TABLE style_photos (
    id TEXT PRIMARY KEY,
    style_id TEXT NOT NULL REFERENCES styles(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    original_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    line TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    caption TEXT NOT NULL,
    confirmed_by TEXT,
    confirmed_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (style_id, sha256)
);
CREATE INDEX style_photos_by_style ON style_photos (style_id, created_at);
CREATE TABLE style_losses (
    style_id TEXT NOT NULL REFERENCES styles(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    loss REAL NOT NULL,
    PRIMARY KEY (style_id, step)
);
CREATE TABLE style_samples (
    style_id TEXT NOT NULL REFERENCES styles(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    prompt_index INTEGER NOT NULL,
    path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (style_id, step, prompt_index)
);
"""),
    (13, "GPU workers on other boxes: their tokens and facts, and each job's dispatch to Celery", """
CREATE TABLE worker_tokens (
    name TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
ALTER TABLE workers ADD COLUMN kind TEXT NOT NULL DEFAULT 'local' CHECK (kind IN ('local', 'remote'));
ALTER TABLE workers ADD COLUMN box TEXT;
ALTER TABLE workers ADD COLUMN gpu TEXT;
ALTER TABLE workers ADD COLUMN model TEXT;
ALTER TABLE workers ADD COLUMN jobs_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN dispatched_at TEXT;
ALTER TABLE jobs ADD COLUMN dispatch_id TEXT;
CREATE INDEX jobs_by_worker ON jobs (worker_id, status);
"""),
]

_CREATE_RECORD = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)
"""
_CURRENT_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
_RECORD = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"


def current_version(conn: sqlite3.Connection) -> int:
    """The highest migration applied to this database (0 for a new one)."""
    conn.execute(_CREATE_RECORD)
    return conn.execute(_CURRENT_VERSION).fetchone()[0]


def migrate(database: Path, backups_dir: Path) -> list[int]:
    """Bring the database to the newest schema; returns the versions applied.

    An existing database is copied with SQLite's online backup into `backups_dir` first,
    so a failed upgrade can be rolled back by hand.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    existed = database.exists() and database.stat().st_size > 0
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = current_version(conn)
        pending = [m for m in MIGRATIONS if m[0] > version]
        if not pending:
            return []
        if existed and version > 0:
            backups_dir.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            target = backups_dir / f"pre-migration-v{version}-{stamp}.db"
            with sqlite3.connect(target) as copy:
                conn.backup(copy)
            copy.close()
            log.info("backed up database before migrating: %s", target)
        applied = []
        for number, name, sql in pending:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(_RECORD, (number, name, datetime.now(timezone.utc).isoformat()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            log.info("applied migration %d: %s", number, name)
            applied.append(number)
        return applied
    finally:
        conn.close()


def _statements(sql: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, buffer = [], ""
    for line in sql.strip().splitlines():
        if line.strip().startswith("--"):
            continue
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
