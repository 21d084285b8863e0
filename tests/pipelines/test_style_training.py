"""A store's style trained by the real worker on the tiny SDXL: at the lowest priority,
giving the GPU to a queued customer round and resuming after, drawing the validation
samples without and with the LoRA, and installing the result through the model manager."""

from __future__ import annotations

from datetime import datetime

import pytest

from appliance.cli import build_worker, open_appliance
from appliance.config import parse_hours
from appliance.ops.models import ModelStore, sha256_of
from appliance.studio import jobs, styles, training_queue
from appliance.studio.designs import create_design
from pipelines.prompts import caption
from tests.unit.test_styles import photo

torch = pytest.importorskip("torch")

STEPS = 8


@pytest.fixture
def shop(sdxl_settings):
    """The appliance on the tiny SDXL with its worker (and style trainer) built as `diamra serve` builds it."""
    import dataclasses
    settings = dataclasses.replace(sdxl_settings, training_resolution=64)
    store = open_appliance(settings)
    worker = build_worker(settings, store)
    worker.training_quiet_seconds = 0
    worker.start_up()
    yield settings, store, worker
    store.close()


def queued_style(settings, store, name: str, trigger: str = "dmrours"):
    style = styles.create(store, name, trigger, STEPS, actor="anna")
    lines = ["yellow gold solitaire ring", "white gold halo ring", "rose gold band", "platinum pendant",
             "yellow gold hoop earrings"]
    for i, line in enumerate(lines):
        kept = styles.add_photo(store, settings.training_dir, style.id, f"piece-{i}.jpg", photo(100 + i), caption,
                                line=line)
        styles.confirm_photo(store, style.id, kept.id, line, caption, actor="anna")
    return styles.queue(store, style.id)


def at_each_step(worker, action):
    """The worker's trainer, with `action(step)` run after each step's progress is reported
    (a customer arriving, the jeweler stopping, systemd stopping the worker)."""
    trainer = worker.trainer

    def watched(job, hooks):
        report = hooks.progress

        def progress(step, loss):
            report(step, loss)
            action(step)
        hooks.progress = progress
        return trainer(job, hooks)
    return watched


def test_a_style_trains_between_customers_and_is_installed_switched_off(shop):
    settings, store, worker = shop
    style = queued_style(settings, store, "ours")
    assert worker.run_once()                       # no customer waiting: one shift trains it all
    done = styles.get(store, style.id)
    assert done.status == "trained" and done.step == STEPS, done.error
    assert [step for step, _ in styles.losses(store, style.id)] == list(range(1, STEPS + 1))
    # The validation prompts without the LoRA (step 0), at each checkpoint and at the end.
    drawn = styles.samples(store, style.id)
    assert sorted(drawn) == [0, 2, 4, 6, 8]
    assert all(len(paths) == len(training_queue.VALIDATION_LINES) for paths in drawn.values())
    assert all((settings.training_dir / p).stat().st_size > 0 for paths in drawn.values() for p in paths)
    # Installed through the model manager: hashed in the lock file, switched off.
    models = ModelStore(settings.models_dir, settings.manifest_path)
    installed = next(s for s in models.styles() if s.name == "ours")
    assert not installed.enabled and installed.trigger == "dmrours" and installed.source == "trained"
    assert installed.sha256 == done.lora_sha256 == sha256_of(models.dir / installed.file)
    assert all(check.status == "ok" for check in models.verify() if check.model == "style:ours")
    # The LoRA learned something: its samples differ from the base model's.
    from PIL import Image, ImageChops
    before = Image.open(settings.training_dir / drawn[0][0])
    after = Image.open(settings.training_dir / drawn[8][0])
    assert ImageChops.difference(before, after).getbbox() is not None

    # Switched on and made the default, the worker's next round draws with it and its trigger words.
    models.set_style("ours", enabled=True)
    models.set_default_style("ours")
    design = create_design(store, "rose gold ring with an oval diamond")
    job = jobs.enqueue(store, design.id, count=1)
    assert worker.run_once()
    assert jobs.get_job(store, job.id).status == "done"
    assert worker.generator.triggers == ["dmrours"]
    assert "style ours" in jobs.images_of(store, job.id)[0]["label"]


def test_a_queued_round_takes_the_gpu_and_training_resumes_to_the_same_lora(shop):
    settings, store, worker = shop
    whole = queued_style(settings, store, "whole")
    assert worker.run_once()
    design = create_design(store, "yellow gold ring")
    interrupted = queued_style(settings, store, "halves")
    seen = []

    def customer_arrives_at_step_3(step):
        seen.append(step)
        if step == 3 and not jobs.latest_job(store, design.id):
            jobs.enqueue(store, design.id, count=1)

    worker.trainer = at_each_step(worker, customer_arrives_at_step_3)
    assert worker.run_once()                         # trains until the customer's round is queued
    paused = styles.get(store, interrupted.id)
    assert paused.status == "queued" and paused.step == 3
    round_ = jobs.latest_job(store, design.id)
    assert round_.status == "queued"
    assert worker.run_once()                         # the customer is served first
    assert jobs.get_job(store, round_.id).status == "done"
    assert worker.run_once()                         # then training carries on from its checkpoint
    assert seen == [1, 2, 3, 4, 5, 6, 7, 8]
    finished = styles.get(store, interrupted.id)
    assert finished.status == "trained"
    # The same photos, captions and seed: the interrupted LoRA is the uninterrupted one,
    # weight for weight (the files' metadata may list its keys in another order).
    from safetensors.torch import load_file
    models = ModelStore(settings.models_dir, settings.manifest_path)
    one, other = (load_file(models.dir / f"styles/{name}.safetensors") for name in ("whole", "halves"))
    assert set(one) == set(other) and all(torch.equal(one[key], other[key]) for key in one)
    assert styles.losses(store, interrupted.id) == styles.losses(store, whole.id)


def test_a_stopped_style_keeps_its_place_and_hours_keep_it_waiting(shop):
    settings, store, worker = shop
    style = queued_style(settings, store, "night")
    trainer = worker.trainer
    worker.trainer = at_each_step(worker, lambda step: step == 2 and styles.cancel(store, style.id))
    worker.run_once()
    stopped = styles.get(store, style.id)
    assert stopped.status == "cancelled" and stopped.step == 2

    worker.trainer = trainer
    worker.training_hours = parse_hours("20:00-08:00")
    worker.clock = lambda: datetime(2026, 11, 27, 15, 0)
    styles.queue(store, style.id)
    assert not worker.run_once()                     # the store is open: nothing trains
    assert styles.get(store, style.id).status == "queued"
    worker.clock = lambda: datetime(2026, 11, 27, 22, 0)
    assert worker.run_once()
    done = styles.get(store, style.id)
    assert done.status == "trained" and done.step == STEPS
    assert [s for s, _ in styles.losses(store, style.id)] == list(range(1, STEPS + 1))


def test_the_sketch_renderer_trains_nothing(tmp_path):
    from appliance.config import load_settings
    settings = load_settings(tmp_path / "data", generator="sketch")
    store = open_appliance(settings)
    worker = build_worker(settings, store)
    worker.training_quiet_seconds = 0
    worker.start_up()
    style = queued_style(settings, store, "waits")
    assert worker.trainer is None and not worker.run_once()
    assert styles.get(store, style.id).status == "queued"
    store.close()


def test_a_photo_removed_after_a_stop_makes_the_style_start_over_and_finish(shop):
    settings, store, worker = shop
    style = queued_style(settings, store, "changed")
    trainer = worker.trainer
    worker.trainer = at_each_step(worker, lambda step: step == 3 and styles.cancel(store, style.id))
    worker.run_once()
    assert styles.get(store, style.id).status == "cancelled" and styles.get(store, style.id).step == 3
    # The jeweler adds a sixth photo: the old checkpoint learned from five.
    added = styles.add_photo(store, settings.training_dir, style.id, "extra.jpg", photo(150), caption,
                             line="rose gold solitaire ring")
    styles.confirm_photo(store, style.id, added.id, added.line, caption, actor="anna")
    assert styles.get(store, style.id).step == 0 and styles.losses(store, style.id) == []
    styles.queue(store, style.id)
    worker.trainer = trainer
    assert worker.run_once()
    done = styles.get(store, style.id)
    assert done.status == "trained", done.error
    assert [s for s, _ in styles.losses(store, style.id)] == list(range(1, STEPS + 1))


def test_a_stopping_worker_leaves_the_style_waiting_at_its_checkpoint(shop):
    settings, store, worker = shop
    style = queued_style(settings, store, "restart")
    trainer = worker.trainer
    # SIGTERM at step 2: systemd is stopping the worker.
    worker.trainer = at_each_step(worker, lambda step: step == 2 and worker._stop.set())
    worker.run_once()
    paused = styles.get(store, style.id)
    assert paused.status == "queued" and paused.step == 2
    worker._stop.clear()
    worker.trainer = trainer
    assert worker.run_once()
    assert styles.get(store, style.id).status == "trained"
