import sqlite3
import threading
import time

import pytest

from appliance.storage import store as q
from appliance.storage.migrations import MIGRATIONS, migrate
from appliance.storage.store import Store


def test_database_is_wal_with_foreign_keys(store):
    db = store.connection()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL outside durable writes


def test_durable_writes_commit_with_full_sync(store):
    with store.write(durable=True) as db:
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL for this commit
    assert store.connection().execute("PRAGMA synchronous").fetchone()[0] == 1


def test_a_failed_write_rolls_back_everything_it_did(store):
    with pytest.raises(RuntimeError):
        with store.write() as db:
            db.execute(q.INSERT_PRICE_BOOK, {"book_json": "{}", "created_by": "t", "now": "x"})
            raise RuntimeError("boom")
    assert store.query_one("SELECT COUNT(*) AS n FROM price_books WHERE created_by = 't'")["n"] == 0


def test_concurrent_writers_from_threads_queue_instead_of_losing_updates(store):
    with store.write() as db:
        db.execute("CREATE TABLE counter (n INTEGER)")
        db.execute("INSERT INTO counter VALUES (0)")

    def bump():
        for _ in range(50):
            with store.write() as db:
                n = db.execute("SELECT n FROM counter").fetchone()[0]
                db.execute("UPDATE counter SET n = ?", (n + 1,))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.query_one("SELECT n FROM counter")["n"] == 200


def test_foreign_keys_refuse_an_image_for_a_missing_design(store):
    with pytest.raises(sqlite3.IntegrityError):
        with store.write() as db:
            db.execute(q.INSERT_IMAGE, {"id": "i", "design_id": "nope", "job_id": None, "parent_id": None,
                                        "instruction": None, "path": "x.png", "seed": 1, "generator": "sketch",
                                        "label": None, "round": 1, "width": 1, "height": 1, "spec_json": "{}",
                                        "spec_revision": 1, "metal_check": None, "metal_check_reason": None,
                                        "now": "t"})


def test_migrations_are_recorded_and_not_reapplied(tmp_path):
    db = tmp_path / "d.db"
    assert migrate(db, tmp_path / "backups") == [m[0] for m in MIGRATIONS]
    assert migrate(db, tmp_path / "backups") == []
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == MIGRATIONS[-1][0]


def test_an_existing_database_is_backed_up_before_a_new_migration(tmp_path, monkeypatch):
    db = tmp_path / "d.db"
    migrate(db, tmp_path / "backups")
    store = Store(db)
    with store.write() as conn:
        conn.execute(q.INSERT_PRICE_BOOK, {"book_json": "{\"kept\": 1}", "created_by": "before", "now": "t"})
    store.close()
    extra = (MIGRATIONS[-1][0] + 1, "test column", "ALTER TABLE designs ADD COLUMN extra TEXT;")
    monkeypatch.setattr("appliance.storage.migrations.MIGRATIONS", MIGRATIONS + [extra])
    assert migrate(db, tmp_path / "backups") == [extra[0]]
    backups = list((tmp_path / "backups").glob("pre-migration-*.db"))
    assert len(backups) == 1
    copy = sqlite3.connect(backups[0])
    assert copy.execute("SELECT created_by FROM price_books WHERE created_by = 'before'").fetchone() == ("before",)
    assert "extra" not in [r[1] for r in copy.execute("PRAGMA table_info(designs)")]


def test_a_failing_migration_leaves_no_half_applied_schema(tmp_path, monkeypatch):
    db = tmp_path / "d.db"
    migrate(db, tmp_path / "backups")
    bad = (MIGRATIONS[-1][0] + 1, "bad", "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;")
    monkeypatch.setattr("appliance.storage.migrations.MIGRATIONS", MIGRATIONS + [bad])
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, tmp_path / "backups")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == MIGRATIONS[-1][0]


@pytest.mark.parametrize("name,index", [("NEXT_QUEUED_JOB", "jobs_by_status"), ("LIST_ORDERS", "orders_by_created"),
                                        ("ORDER_EVENTS", "order_events_by_order")])
def test_hot_queries_use_their_index(store, name, index):
    params = {"status": None, "limit": 10, "number": 1, "query": None, "like": None}
    sql = getattr(q, name).replace("{order}", q.ORDER_SORTS["newest"])
    plan = " ".join(str(r[-1]) for r in store.connection().execute("EXPLAIN QUERY PLAN " + sql, params))
    assert index in plan


def test_writers_in_one_process_queue_without_sqlites_sleeping_busy_wait(tmp_path):
    """Twenty threads writing at once all commit, each waiting only for the writer before
    it: no 'database is locked', and no waiter left sleeping in SQLite's busy handler
    (which backs off up to 100 ms at a time) once the lock is free."""
    store = Store(tmp_path / "diamra.db")
    store.connection().execute("CREATE TABLE hits (n INTEGER)")
    waits, errors = [], []

    def writer():
        try:
            for _ in range(25):
                started = time.perf_counter()
                with store.write() as db:
                    waits.append(time.perf_counter() - started)
                    db.execute("INSERT INTO hits VALUES (1)")
                    time.sleep(0.001)             # a request's own work inside its write
        except sqlite3.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.query_one("SELECT COUNT(*) AS n FROM hits")["n"] == 500
    # Queued on the lock, the 99th percentile wait was 50-80 ms here; left to SQLite's
    # busy handler, over a second (waiters asleep while the lock sat free).
    assert sorted(waits)[int(len(waits) * 0.99)] < 0.4
    store.close()


def test_checkpoints_move_to_a_background_thread(tmp_path):
    """The commits stop checkpointing (wal_autocheckpoint 0), and the thread copies the
    WAL into the database file within its interval: the main file grows by what was
    written without any connection of ours checkpointing."""
    database = tmp_path / "diamra.db"
    store = Store(database)
    store.connection().execute("CREATE TABLE hits (b BLOB)")
    store.checkpoint_in_background(every_seconds=0.2)
    assert store.connection().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    before = database.stat().st_size
    for _ in range(300):
        with store.write() as db:
            db.execute("INSERT INTO hits VALUES (randomblob(3000))")
    deadline = time.monotonic() + 10
    while database.stat().st_size - before < 800_000 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert database.stat().st_size - before >= 800_000
    assert store._checkpointer.is_alive()
    store.close()
    assert not store._checkpointer.is_alive()


def test_migration_7_keeps_every_timeline_event_and_widens_its_kinds(tmp_path, monkeypatch):
    db = tmp_path / "diamra.db"
    monkeypatch.setattr("appliance.storage.migrations.MIGRATIONS", MIGRATIONS[:6])
    migrate(db, tmp_path / "backups")
    conn = sqlite3.connect(db)
    conn.executescript("""
        INSERT INTO designs (id, description, spec_json, created_at, updated_at) VALUES ('d', 'ring', '{}', 't', 't');
        INSERT INTO images (id, design_id, path, seed, generator, round, width, height, spec_json, created_at)
            VALUES ('i', 'd', 'p.png', 1, 'sketch', 1, 8, 8, '{}', 't');
        INSERT INTO orders (number, token, design_id, status, customer_name, email, current_version, created_at,
                            updated_at) VALUES (1001, 'tok', 'd', 'accepted', 'Ana', 'a@example.com', 1, 't', 't');
        INSERT INTO order_events (order_number, kind, to_status, body, actor, created_at)
            VALUES (1001, 'status', 'submitted', 'hello', 'customer', 't1'), (1001, 'message', NULL, 'hi', 'staff', 't2');
    """)
    before = conn.execute("SELECT * FROM order_events ORDER BY id").fetchall()
    conn.commit()
    conn.close()
    monkeypatch.setattr("appliance.storage.migrations.MIGRATIONS", MIGRATIONS)
    assert 7 in migrate(db, tmp_path / "backups")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT * FROM order_events ORDER BY id").fetchall() == before
    conn.execute("INSERT INTO order_events (order_number, kind, body, actor, created_at) "
                 "VALUES (1001, 'stage', 'Casting', 'staff', 't3')")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO order_events (order_number, kind, actor, created_at) VALUES (1001, 'x', 'staff', 't')")
    plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + q.ORDER_EVENTS, {"number": 1001}))
    assert "order_events_by_order" in plan
    conn.close()
