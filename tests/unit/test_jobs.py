import pytest

from appliance.errors import Conflict, Invalid
from appliance.storage.store import Store
from appliance.studio import designs, jobs


@pytest.fixture
def design(store):
    return designs.create_design(store, "14k rose gold ring with a 1 carat oval diamond")


def test_a_queued_job_is_claimed_once(store, design):
    job = jobs.enqueue(store, design.id, count=2)
    assert job.status == "queued" and jobs.position(store, job) == 0
    claimed = jobs.claim_next(store, "w1")
    assert claimed.id == job.id and claimed.status == "running" and claimed.attempts == 1
    assert jobs.claim_next(store, "w2") is None


def test_jobs_survive_a_restart_of_the_process(store, design, settings):
    job = jobs.enqueue(store, design.id)
    store.close()
    reopened = Store(settings.database_path)
    assert jobs.get_job(reopened, job.id).status == "queued"
    reopened.close()


def test_one_design_cannot_fill_the_queue(store, design):
    jobs.enqueue(store, design.id, max_waiting=2)
    jobs.enqueue(store, design.id, max_waiting=2)
    with pytest.raises(Conflict):
        jobs.enqueue(store, design.id, max_waiting=2)


def test_a_waiting_customer_is_served_before_a_repeat_customer(store, design):
    other = designs.create_design(store, "platinum pendant with a sapphire")
    first = jobs.enqueue(store, design.id, max_waiting=5)
    jobs.claim_next(store, "w")
    jobs.finish(store, first.id, "done")
    again = jobs.enqueue(store, design.id, max_waiting=5)   # queued earlier ...
    fresh = jobs.enqueue(store, other.id, max_waiting=5)    # ... than this one
    assert jobs.claim_next(store, "w").id == fresh.id
    assert jobs.claim_next(store, "w").id == again.id


def test_cancel_stops_a_queued_job_at_once_and_flags_a_running_one(store, design):
    queued = jobs.enqueue(store, design.id, max_waiting=5)
    assert jobs.cancel(store, queued.id).status == "cancelled"
    running = jobs.enqueue(store, design.id, max_waiting=5)
    jobs.claim_next(store, "w")
    after = jobs.cancel(store, running.id)
    assert after.status == "running" and jobs.cancel_requested(store, running.id)


def test_recovery_requeues_a_first_crash_and_fails_a_repeat_crasher(store, design):
    job = jobs.enqueue(store, design.id)
    jobs.claim_next(store, "w")                      # worker dies here
    assert jobs.recover(store, max_attempts=2) == ([job.id], [])
    jobs.claim_next(store, "w")                      # and dies again
    assert jobs.recover(store, max_attempts=2) == ([], [job.id])
    failed = jobs.get_job(store, job.id)
    assert failed.status == "failed" and "2 times" in failed.error


def test_bad_rounds_name_the_field(store, design):
    with pytest.raises(Invalid) as info:
        jobs.enqueue(store, design.id, count=9)
    assert info.value.field == "count"
    with pytest.raises(Invalid) as info:
        jobs.enqueue(store, design.id, parent_image_id="not-an-image")
    assert info.value.field == "parent_image_id"


def test_the_position_shown_is_the_order_the_worker_will_draw_in(store):
    served = designs.create_design(store, "platinum ring with a ruby")
    jobs.enqueue(store, served.id, count=1)
    first = jobs.claim_next(store, "w")                  # this design has been served once
    jobs.finish(store, first.id, "done", generator="sketch", images=[])
    again = jobs.enqueue(store, served.id, count=1)      # older, but its design was served
    newcomer = designs.create_design(store, "rose gold pendant with a pearl")
    fresh = jobs.enqueue(store, newcomer.id, count=1)    # newer, never served: drawn first
    assert jobs.position(store, jobs.get_job(store, fresh.id)) == 0
    assert jobs.position(store, jobs.get_job(store, again.id)) == 1
    assert jobs.claim_next(store, "w").id == fresh.id    # and the worker agrees
