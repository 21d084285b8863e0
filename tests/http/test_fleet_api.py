"""The shop's internal endpoints for GPU workers, in process: tokens, one job per attempt,
idempotent results, and every bad input answered with a 4xx naming the field."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image

from appliance.studio import designs, fleet, jobs

PATH = fleet.PATH.removeprefix("/staff")


def png(colour=(200, 170, 120), size=64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def settings(tmp_path):
    """A shop whose jobs go to GPU workers (the broker is not reached in these tests)."""
    from appliance.config import load_settings
    return load_settings(tmp_path / "data", generator="sketch", image_size=256, dispatcher="celery",
                         broker_url="redis://:unused@127.0.0.1:1/0")


@pytest.fixture
def gpu(staff, store):
    token = fleet.add_worker(store, "gpu-1", by="test")
    staff.headers["Authorization"] = f"Bearer {token}"
    assert staff.post(f"{PATH}/heartbeat", json={"generator": "sketch", "box": "box-2",
                                                  "gpu": "NVIDIA RTX 4090"}).json() == {"name": "gpu-1"}
    return staff


def queued(store, count=2) -> str:
    design = designs.create_design(store, "14k yellow gold solitaire ring with a round lab diamond")
    return jobs.enqueue(store, design.id, count=count).id


def finish_form(images: list[bytes], seeds=None, status="done"):
    seeds = seeds if seeds is not None else list(range(11, 11 + len(images)))
    data = {"status": status, "generator": "sketch", "error": "", "seeds": str(seeds).replace(" ", ""),
            "labels": '["a","b","c","d"]'}
    files = {f"image{i}": (f"{i}.png", data_, "image/png") for i, data_ in enumerate(images)}
    return data, files


def test_a_job_is_taken_drawn_and_stored_once_per_attempt(gpu, store, settings):
    job_id = queued(store)
    sent = gpu.post(f"{PATH}/jobs/{job_id}/claim").json()
    assert sent["attempt"] == 1 and sent["count"] == 2 and "solitaire" in sent["description"]
    base = f"{PATH}/jobs/{job_id}/attempts/1"
    assert gpu.post(f"{base}/progress", json={"fraction": 0.5}).json() == {"cancel": False}
    answer = gpu.post(f"{base}/progress", data={"fraction": "0.75"}, files={"preview": ("p.jpg", png(), "image/jpeg")})
    assert answer.status_code == 200 and (settings.images_dir / "previews" / f"{job_id}.jpg").exists()
    data, files = finish_form([png(), png((90, 90, 90))])
    assert gpu.post(f"{base}/finish", data=data, files=files).json() == {"status": "done"}
    # The answer was lost and the worker sends it again: stored once.
    assert gpu.post(f"{base}/finish", data=data, files=files).json() == {"status": "stored"}
    rows = jobs.images_of(store, job_id)
    assert len(rows) == 2 and {row["seed"] for row in rows} == {11, 12}
    assert len(list((settings.images_dir / rows[0]["design_id"]).glob("*.png"))) == 2
    assert jobs.get_job(store, job_id).status == "done"
    assert not (settings.images_dir / "previews" / f"{job_id}.jpg").exists()
    assert store.query_one("SELECT jobs_done FROM workers WHERE id = 'gpu-1'")["jobs_done"] == 1
    # A duplicate message for the same job finds it ended.
    assert gpu.post(f"{PATH}/jobs/{job_id}/claim").status_code == 409


def test_an_attempt_that_is_over_is_refused(gpu, store):
    job_id = queued(store)
    gpu.post(f"{PATH}/jobs/{job_id}/claim")
    with store.write() as db:                # the worker fell silent long ago
        db.execute("UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00+00:00' WHERE id = :id", {"id": job_id})
    assert fleet.sweep(store, silent_seconds=30, max_attempts=3) == ([job_id], [])
    base = f"{PATH}/jobs/{job_id}/attempts/1"
    assert gpu.post(f"{base}/progress", json={"fraction": 0.5}).status_code == 409
    data, files = finish_form([png(), png()])
    assert gpu.post(f"{base}/finish", data=data, files=files).status_code == 409
    assert jobs.images_of(store, job_id) == []
    # The next attempt is the current one.
    assert gpu.post(f"{PATH}/jobs/{job_id}/claim").json()["attempt"] == 2
    assert gpu.post(f"{PATH}/jobs/{job_id}/attempts/2/finish", data=data, files=files).json() == {"status": "done"}


def test_a_cancel_is_answered_and_a_late_round_is_not_stored(gpu, store):
    job_id = queued(store)
    gpu.post(f"{PATH}/jobs/{job_id}/claim")
    jobs.cancel(store, job_id)
    base = f"{PATH}/jobs/{job_id}/attempts/1"
    assert gpu.post(f"{base}/progress", json={"fraction": 0.2}).json() == {"cancel": True}
    data, files = finish_form([png(), png()])
    assert gpu.post(f"{base}/finish", data=data, files=files).json() == {"status": "cancelled"}
    assert jobs.get_job(store, job_id).status == "cancelled" and jobs.images_of(store, job_id) == []


def test_a_removed_worker_is_refused_and_its_job_goes_back_to_the_queue(gpu, store):
    job_id = queued(store)
    gpu.post(f"{PATH}/jobs/{job_id}/claim")
    fleet.remove_worker(store, "gpu-1")
    assert jobs.get_job(store, job_id).status == "queued"
    answer = gpu.post(f"{PATH}/jobs/{job_id}/attempts/1/progress", json={"fraction": 0.5})
    assert answer.status_code == 401 and "not the token" in answer.json()["detail"]


def test_a_shop_that_claims_its_own_jobs_gives_none_out(gpu, store, staff):
    staff.app.state.settings = staff.app.state.settings.__class__(
        **{**staff.app.state.settings.__dict__, "dispatcher": "sqlite"})
    job_id = queued(store)
    answer = gpu.post(f"{PATH}/jobs/{job_id}/claim")
    assert answer.status_code == 409 and "dispatcher" in answer.json()["detail"]
    assert jobs.get_job(store, job_id).status == "queued"


def test_a_late_result_for_a_failed_job_is_not_called_stored(gpu, store):
    job_id = queued(store)
    gpu.post(f"{PATH}/jobs/{job_id}/claim")
    with store.write() as db:
        db.execute("UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00+00:00' WHERE id = :id", {"id": job_id})
    assert fleet.sweep(store, silent_seconds=30, max_attempts=1) == ([], [job_id])
    data, files = finish_form([png(), png()])
    answer = gpu.post(f"{PATH}/jobs/{job_id}/attempts/1/finish", data=data, files=files)
    assert answer.status_code == 409 and "failed" in answer.json()["detail"]


def test_a_claim_repeated_after_a_lost_answer_keeps_its_attempt(gpu, store):
    job_id = queued(store)
    assert gpu.post(f"{PATH}/jobs/{job_id}/claim?task=message-1").json()["attempt"] == 1
    assert gpu.post(f"{PATH}/jobs/{job_id}/claim?task=message-1").json()["attempt"] == 1
    # Another message for the same job: this worker restarted, its earlier attempt is over.
    assert gpu.post(f"{PATH}/jobs/{job_id}/claim?task=message-2").json()["attempt"] == 2
    assert gpu.post(f"{PATH}/jobs/{job_id}/claim?task=bad id!").status_code == 422


def test_names_and_duplicates(store):
    fleet.add_worker(store, "gpu-2", by="test")
    with pytest.raises(Exception, match="exists already"):
        fleet.add_worker(store, "gpu-2", by="test")
    with pytest.raises(Exception, match="name"):
        fleet.add_worker(store, "GPU 2!", by="test")


@pytest.mark.parametrize("path, body, field", [
    ("progress", {"fraction": 2}, "fraction"),
    ("progress", {"fraction": "half"}, "fraction"),
    ("progress", {}, "fraction"),
    ("progress", [1, 2], "fraction"),
])
def test_bad_progress_names_the_field(gpu, store, path, body, field):
    job_id = queued(store)
    gpu.post(f"{PATH}/jobs/{job_id}/claim")
    answer = gpu.post(f"{PATH}/jobs/{job_id}/attempts/1/{path}", json=body)
    assert answer.status_code == 422 and field in answer.text


def test_bad_results_name_the_field(gpu, store):
    job_id = queued(store)
    gpu.post(f"{PATH}/jobs/{job_id}/claim")
    base = f"{PATH}/jobs/{job_id}/attempts/1"
    cases = [
        (finish_form([png(), png()], status="drawn"), "status"),
        (finish_form([png()], seeds=[1, 2]), "image1"),
        (finish_form([b"not a picture", png()]), "image 1"),
        (finish_form([png(), png()], seeds=["x", 2]), "seeds"),
        (finish_form([png(), png(), png()]), "images"),
    ]
    for (data, files), field in cases:
        answer = gpu.post(f"{base}/finish", data=data, files=files)
        assert answer.status_code == 422 and field in answer.text, (field, answer.text)
    data, _ = finish_form([])
    data["seeds"] = "{not json"
    assert gpu.post(f"{base}/finish", data=data, files={"x": ("x", b"1")}).status_code == 422
    assert gpu.post(f"{base}/finish", json={"status": "done"}).status_code == 422
    assert gpu.post(f"{PATH}/jobs/short/claim").status_code == 422
    assert gpu.post(f"{PATH}/jobs/{'a' * 22}/claim").status_code == 404
    assert gpu.get(f"{base}/inputs/sky").status_code == 422
    assert gpu.get(f"{base}/inputs/init").status_code == 404          # a round from words alone
    assert gpu.post(f"{PATH}/heartbeat", json={"generator": "sdxl", "colour": "red"}).status_code == 422
    assert jobs.get_job(store, job_id).status == "running" and jobs.images_of(store, job_id) == []


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.one_of(st.text(max_size=8), st.floats(allow_nan=True), st.integers()),
       seeds=st.text(max_size=20), status=st.text(max_size=10), attempt=st.integers(-3, 5))
def test_fuzzed_worker_requests_never_fail_the_shop(gpu, store, fraction, seeds, status, attempt):
    job_id = queued(store)
    gpu.post(f"{PATH}/jobs/{job_id}/claim")
    base = f"{PATH}/jobs/{job_id}/attempts/{attempt}"
    answers = [gpu.post(f"{base}/progress", data={"fraction": str(fraction)}),
               gpu.post(f"{base}/finish", data={"status": status, "seeds": seeds, "generator": "x"},
                        files={"image0": ("0.png", png(), "image/png")})]
    assert all(answer.status_code < 500 for answer in answers), [a.text for a in answers]
