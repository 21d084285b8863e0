import pytest
from PIL import Image

from appliance.studio import designs, jobs
from appliance.studio.worker import Worker
from pipelines.base import GenerationRequest, Generator
from pipelines.sketch import SketchGenerator


@pytest.fixture
def design(store):
    return designs.create_design(store, "18k yellow gold ring with a 1 carat round sapphire, size 7")


def test_a_job_becomes_stored_images_with_seeds_and_lineage(store, worker, settings, design):
    first = jobs.enqueue(store, design.id, count=4)
    assert worker.run_once()
    done = jobs.get_job(store, first.id)
    assert done.status == "done" and done.progress == 1 and done.generator == "sketch"
    images = designs.images(store, design.id)
    assert len(images) == 4 and len({i.seed for i in images}) == 4
    for image in images:
        assert Image.open(settings.images_dir / image.path).size == (settings.image_size, settings.image_size)
    second = jobs.enqueue(store, design.id, count=2, instruction="thinner band", parent_image_id=images[1].id)
    worker.run_once()
    round_two = [i for i in designs.images(store, design.id) if i.job_id == second.id]
    assert {i.round for i in round_two} == {2} and {i.parent_id for i in round_two} == {images[1].id}
    assert [i.id for i in designs.lineage(store, round_two[0].id)] == [images[1].id, round_two[0].id]


class Exploding(Generator):
    name = "exploding"

    def generate(self, request, on_progress, is_cancelled, on_image=None):
        raise RuntimeError("the GPU caught fire")


def test_a_generator_error_fails_the_job_with_a_message_and_the_worker_goes_on(store, settings, design):
    broken = Worker(store, Exploding(), settings.images_dir, new_request=GenerationRequest)
    broken.start_up()
    job = jobs.enqueue(store, design.id)
    assert broken.run_once()
    failed = jobs.get_job(store, job.id)
    assert failed.status == "failed" and "the GPU caught fire" in failed.error
    assert designs.images(store, design.id) == []
    fine = Worker(store, SketchGenerator(), settings.images_dir, new_request=GenerationRequest)
    jobs.enqueue(store, design.id)
    fine.run_once()
    assert len(designs.images(store, design.id)) == 4


class CancelledMidway(SketchGenerator):
    """Cancels its own job after the first image, as a customer pressing Cancel would."""

    def __init__(self, store):
        super().__init__()
        self.store = store

    def generate(self, request, on_progress, is_cancelled, on_image=None):
        def progress(fraction, preview=None):
            on_progress(fraction, preview)
            job = self.store.query_one("SELECT id FROM jobs WHERE status = 'running'")
            jobs.cancel(self.store, job["id"])
        return super().generate(request, progress, is_cancelled)


def test_cancel_takes_effect_between_images_and_keeps_nothing(store, settings, design):
    worker = Worker(store, CancelledMidway(store), settings.images_dir, new_request=GenerationRequest)
    job = jobs.enqueue(store, design.id, count=4)
    worker.run_once()
    assert jobs.get_job(store, job.id).status == "cancelled"
    assert designs.images(store, design.id) == []
    assert not list(settings.images_dir.rglob("*.png"))


def test_a_job_left_running_by_a_dead_worker_is_finished_by_the_next_one(store, settings, design):
    job = jobs.enqueue(store, design.id, count=1)
    jobs.claim_next(store, "a-worker-that-died")
    survivor = Worker(store, SketchGenerator(), settings.images_dir, new_request=GenerationRequest)
    survivor.start_up()
    assert jobs.get_job(store, job.id).status == "queued"
    survivor.run_once()
    assert jobs.get_job(store, job.id).status == "done"
