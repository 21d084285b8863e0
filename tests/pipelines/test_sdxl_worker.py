"""The sdxl generator behind the real queue, worker, API and command line."""

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from appliance import cli
from appliance.config import load_settings
from appliance.studio import jobs, round_output
from pipelines import registry
from tests.conftest import wait_for_job

torch = pytest.importorskip("torch")
DIAMRA = str(Path(sys.executable).parent / "diamra")
DESCRIPTION = "platinum halo ring with a 1 carat cushion diamond, size 6"


@pytest.fixture
def appliance(sdxl_settings):
    store = cli.open_appliance(sdxl_settings)
    yield sdxl_settings, store
    store.close()


@pytest.fixture
def running(appliance):
    settings, store = appliance
    worker = cli.build_worker(settings, store)
    worker.poll_seconds = 0.05
    worker.start_thread()
    customer, _ = cli.build_apps(settings, store)
    with TestClient(customer) as client:
        yield client, worker, store
    worker.stop()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_round_goes_through_the_queue_to_stored_images(running, monkeypatch):
    client, worker, store = running
    assert worker.generator.name == "sdxl"
    previews_seen, write_progress = [], round_output.ProgressReporter._write

    def watched(reporter, fraction, preview):      # the real writer, noting each preview it gets
        if preview is not None:
            previews_seen.append(f"preview at {fraction:.2f}")
        write_progress(reporter, fraction, preview)
    monkeypatch.setattr(round_output.ProgressReporter, "_write", watched)
    design = client.post("/api/v1/designs", json={"description": DESCRIPTION}).json()
    job = client.post(f"/api/v1/designs/{design['id']}/renders", json={"count": 2}).json()["job"]
    done = wait_for_job(client, job["id"], timeout=120)
    assert done["status"] == "done" and len(done["images"]) == 2, done
    image = Image.open(io.BytesIO(client.get(done["images"][0]["url"]).content))
    assert image.size == (64, 64)
    row = jobs.get_job(store, job["id"])
    # The real pipeline drew previews while it ran; the round's end dropped them.
    assert row.generator == "sdxl" and row.preview_path is None
    assert not (worker.images_dir / "previews" / f"{job['id']}.jpg").exists()
    assert any("preview" in line for line in previews_seen), previews_seen
    labels = [i["label"] for i in client.get(f"/api/v1/designs/{design['id']}").json()["images"]]
    assert all(label.startswith("SDXL concept (txt2img), seed ") for label in labels)


def test_a_reference_photo_and_a_painted_region(running):
    client, _, _ = running
    design = client.post("/api/v1/designs", json={"description": DESCRIPTION}).json()
    photo = Image.new("RGB", (300, 200), (200, 170, 90))
    ref = client.post(f"/api/v1/designs/{design['id']}/references", files={"file": ("ring.png", png(photo), "image/png")})
    assert ref.status_code == 201 and (ref.json()["width"], ref.json()["height"]) == (300, 200)
    job = client.post(f"/api/v1/designs/{design['id']}/renders", json={"count": 1, "reference_id": ref.json()["id"]})
    first = wait_for_job(client, job.json()["job"]["id"], timeout=120)
    assert first["status"] == "done"
    parent = first["images"][0]
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).ellipse([20, 20, 44, 44], fill=255)
    mask_id = client.post(f"/api/v1/designs/{design['id']}/masks", files={"file": ("m.png", png(mask), "image/png")}).json()["id"]
    job = client.post(f"/api/v1/designs/{design['id']}/renders",
                      json={"count": 1, "parent_image_id": parent["id"], "mask_id": mask_id}).json()["job"]
    edit = wait_for_job(client, job["id"], timeout=120)
    before = np.asarray(Image.open(io.BytesIO(client.get(parent["url"]).content)).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(client.get(edit["images"][0]["url"]).content)).convert("RGB"))
    outside = np.asarray(mask) == 0
    assert np.array_equal(after[outside], before[outside])
    assert not np.array_equal(after[~outside], before[~outside])


@pytest.mark.parametrize("payload,message", [
    (b"not a picture at all", "PNG, JPEG or WebP"),
    (b"", "empty"),
])
def test_bad_uploads_are_refused_by_name(running, payload, message):
    client, _, _ = running
    design = client.post("/api/v1/designs", json={"description": DESCRIPTION}).json()
    response = client.post(f"/api/v1/designs/{design['id']}/references", files={"file": ("x.png", payload, "image/png")})
    assert response.status_code == 422 and message in response.json()["detail"][0]["msg"]


def test_decompression_bombs_and_empty_masks_are_refused(running):
    client, _, _ = running
    design = client.post("/api/v1/designs", json={"description": DESCRIPTION}).json()
    bomb = png(Image.new("1", (20000, 20000), 0))                 # tiny file, 400 megapixels
    assert len(bomb) < 200_000
    response = client.post(f"/api/v1/designs/{design['id']}/references", files={"file": ("b.png", bomb, "image/png")})
    assert response.status_code == 422 and "too large" in response.json()["detail"][0]["msg"]
    empty = png(Image.new("L", (64, 64), 0))
    response = client.post(f"/api/v1/designs/{design['id']}/masks", files={"file": ("m.png", empty, "image/png")})
    assert response.status_code == 422 and "mask is empty" in response.json()["detail"][0]["msg"]
    huge = client.post(f"/api/v1/designs/{design['id']}/references", content=b"x" * (12 * 1024 * 1024),
                       headers={"content-type": "application/octet-stream"})
    assert huge.status_code == 413


def test_cancel_takes_effect_mid_run(appliance):
    settings, store = appliance
    slow = load_settings(settings.data_dir, generator="sdxl", device="cpu", manifest=str(settings.manifest_path),
                         image_size=64, sdxl_steps=400)
    worker = cli.build_worker(slow, store)
    worker.poll_seconds = 0.05
    worker.start_thread()
    customer, _ = cli.build_apps(slow, store)
    try:
        with TestClient(customer) as client:
            design = client.post("/api/v1/designs", json={"description": DESCRIPTION}).json()
            job = design["job"]                                  # starting a design queues its first round
            deadline = time.monotonic() + 60
            while client.get(f"/api/v1/jobs/{job['id']}").json()["progress"] <= 0.01 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.delete(f"/api/v1/jobs/{job['id']}").json()["status"] == "running"   # stops at its next step
            final = wait_for_job(client, job["id"], timeout=60)
            assert final["status"] == "cancelled" and final["images"] == [] and final["progress"] < 0.9
    finally:
        worker.stop()


def test_out_of_memory_fails_one_job_and_the_next_succeeds(running, monkeypatch):
    client, worker, _ = running
    unet = worker.generator.txt2img.unet
    real, calls = unet.forward, {"n": 0}

    def once_out_of_memory(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", once_out_of_memory)
    design = client.post("/api/v1/designs", json={"description": DESCRIPTION}).json()
    failed = wait_for_job(client, design["job"]["id"])             # the design's first round
    assert failed["status"] == "failed" and "ran out of memory" in failed["error"]
    after = wait_for_job(client, client.post(f"/api/v1/designs/{design['id']}/renders", json={"count": 1}).json()["job"]["id"])
    assert after["status"] == "done"


def test_an_unusable_gpu_stops_the_worker_and_leaves_the_job_for_recovery(appliance, monkeypatch):
    settings, store = appliance
    worker = cli.build_worker(settings, store)
    worker.start_up()
    monkeypatch.setattr(worker.generator.txt2img.unet, "forward",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("CUDA error: an illegal memory access")))
    from appliance.studio import designs
    design = designs.create_design(store, DESCRIPTION)
    job = jobs.enqueue(store, design.id, count=1)
    worker.run_forever()                                   # returns: it must not go on
    assert worker.fatal is not None and "illegal memory access" in str(worker.fatal)
    assert jobs.get_job(store, job.id).status == "running"
    assert jobs.recover(store, max_attempts=2) == ([job.id], [])


def _write_toml(settings, steps: int) -> None:
    (settings.data_dir / "diamra.toml").write_text(
        f'generator = "sdxl"\ndevice = "cpu"\nmanifest = "{settings.manifest_path}"\nimage_size = 64\nsdxl_steps = {steps}\n')


def test_a_killed_worker_s_job_is_recovered_by_the_next_worker(appliance):
    settings, store = appliance
    from appliance.studio import designs
    design = designs.create_design(store, DESCRIPTION)
    job = jobs.enqueue(store, design.id, count=1)
    _write_toml(settings, steps=2000)
    process = subprocess.Popen([DIAMRA, "--data", str(settings.data_dir), "worker"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while jobs.get_job(store, job.id).progress <= 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert jobs.get_job(store, job.id).status == "running"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    _write_toml(settings, steps=4)
    survivor = cli.build_worker(load_settings(settings.data_dir), store)
    survivor.start_up()                                    # requeues the orphan (first attempt)
    assert jobs.get_job(store, job.id).status == "queued"
    survivor.run_once()
    finished = jobs.get_job(store, job.id)
    assert finished.status == "done" and finished.attempts == 2


def test_models_verify_names_a_corrupted_and_a_missing_file(sdxl_settings):
    env = {**os.environ, "DIAMRA_MANIFEST": str(sdxl_settings.manifest_path)}
    run = lambda: subprocess.run([DIAMRA, "--data", str(sdxl_settings.data_dir), "models", "verify"],  # noqa: E731
                                 capture_output=True, text=True, env=env, timeout=120)
    ok = run()
    assert ok.returncode == 0 and "verified" in ok.stdout
    unet = next((sdxl_settings.models_dir / "tiny-base" / "unet").glob("*.safetensors"))
    with unet.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02\x03")
    (sdxl_settings.models_dir / "tiny-vae" / "config.json").unlink()
    bad = run()
    assert bad.returncode == 1
    assert f"WRONG     base/unet/{unet.name}" in bad.stdout and "MISSING   vae/config.json" in bad.stdout


def test_auto_picks_sdxl_only_when_every_model_verifies(sdxl_settings):
    auto = load_settings(sdxl_settings.data_dir, generator="auto", device="cpu", manifest=str(sdxl_settings.manifest_path))
    generator, reason = registry.create("auto", auto)
    assert generator.name == "sdxl" and "verified" in reason
    (sdxl_settings.models_dir / "tiny-vae" / "config.json").write_text("{}")
    generator, reason = registry.create("auto", auto)
    assert generator.name == "sketch" and "vae/config.json: wrong" in reason


def test_generate_renders_a_spec_file_through_sdxl(sdxl_settings, tmp_path):
    from appliance.reader.descriptions import parse_description
    _write_toml(sdxl_settings, steps=3)
    spec = tmp_path / "spec.json"
    spec.write_text(parse_description(DESCRIPTION).spec.model_dump_json())
    out = tmp_path / "one.png"
    result = subprocess.run([DIAMRA, "--data", str(sdxl_settings.data_dir), "generate", "--prompt", "a test",
                             "--spec", str(spec), "--seed", "7", "--out", str(out)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (64, 64) and "sdxl" in result.stdout and "seed 7" in result.stdout


def test_the_gpu_benchmark_runs_as_a_cpu_smoke():
    bench = Path(__file__).resolve().parents[2] / "bench" / "sdxl_gpu.py"
    result = subprocess.run([sys.executable, str(bench), "--tiny", "--repeats", "1"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if "ours/raw" in line]
    assert len(lines) == 2 and all("s/image" in line for line in lines)
