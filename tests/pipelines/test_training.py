"""LoRA training on the tiny SDXL, on the CPU: the same code a store's GPU runs."""

import random

import numpy as np
import pytest
from PIL import Image

from appliance.ops.models import ModelStore
from pipelines.training import LoraTrainer, TrainingConfig, latest_checkpoint
from pipelines.training_data import TrainingPhoto, cache_examples, load_encoders, prepare_photo, time_ids

torch = pytest.importorskip("torch")

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 200, 40)]
QUICK = dict(resolution=32, rank=4, alpha=8, learning_rate=1e-2, batch_size=2, checkpoint_every=1000)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tensors this small run slower across threads than on one, and the CI box is shared.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[TrainingPhoto]:
    """Four small photos of solid colours with a ring drawn on, not square, with captions."""
    from PIL import ImageDraw
    folder = tmp_path_factory.mktemp("photos")
    found = []
    for i, colour in enumerate(COLOURS):
        image = Image.new("RGB", (48, 40), colour)
        ImageDraw.Draw(image).ellipse([12, 8, 36, 32], outline=(250, 250, 250), width=3)
        path = folder / f"piece-{i}.png"
        image.save(path)
        found.append(TrainingPhoto(path, f"dmrstyle ring photo {i}"))
    return found


def trainer(tiny_model, job, **changes) -> LoraTrainer:
    return LoraTrainer.from_folder(tiny_model["base"], job, TrainingConfig(**{**QUICK, **changes}), device="cpu")


def weights(path) -> dict:
    from safetensors.torch import load_file
    return load_file(path)


def assert_same_weights(a, b, tolerance=1e-6):
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys() and first
    assert max((first[k] - second[k]).abs().max().item() for k in first) <= tolerance


@pytest.fixture(scope="module")
def trained(tiny_model, photos, tmp_path_factory):
    """A LoRA trained for 24 steps (all four photos in each step)."""
    job = tmp_path_factory.mktemp("trained")
    losses = []
    outcome = trainer(tiny_model, job, max_steps=24, batch_size=4).train(
        photos, on_progress=lambda step, loss: losses.append((step, loss)))
    return {"job": job, "outcome": outcome, "progress": losses}


@pytest.fixture(scope="module")
def uninterrupted(tiny_model, photos, tmp_path_factory):
    """Eight steps in one go: what every interrupted run must reproduce."""
    job = tmp_path_factory.mktemp("uninterrupted")
    return trainer(tiny_model, job, max_steps=8).train(photos)


def denoising_loss(unet, examples, scheduler) -> float:
    """Mean squared error of the predicted noise on the given examples, with the same noise
    at the same spread of timesteps every time it is measured."""
    generator = torch.Generator().manual_seed(123)
    latents = torch.stack([e.latents for e in examples])
    embeds = torch.stack([e.prompt_embeds for e in examples])
    added = {"text_embeds": torch.stack([e.pooled_prompt_embeds for e in examples]),
             "time_ids": torch.stack([e.time_ids for e in examples])}
    errors = []
    with torch.no_grad():
        for t in (50, 200, 400, 600, 800, 950):
            noise = torch.randn(latents.shape, generator=generator)
            steps = torch.full((len(examples),), t)
            prediction = unet(scheduler.add_noise(latents, noise, steps), steps, embeds, added_cond_kwargs=added).sample
            errors.append(((prediction - noise) ** 2).mean().item())
    return float(np.mean(errors))


def test_training_lowers_the_loss_on_the_stores_photos(trained, tiny_model, photos):
    from diffusers import DDPMScheduler, UNet2DConditionModel
    outcome = trained["outcome"]
    assert outcome.status == "done" and outcome.step == 24 and outcome.lora_path.exists()
    assert [step for step, _ in trained["progress"]] == list(range(1, 25))
    assert all(np.isfinite(loss) for _, loss in trained["progress"])
    # The per-step losses are drawn at random timesteps; measure the same noise before and after.
    examples = cache_examples(photos, lambda: pytest.fail("the encoders ran again"), trained["job"] / "cache",
                              resolution=32, center_crop=True, seed=0)
    scheduler = DDPMScheduler.from_pretrained(tiny_model["base"], subfolder="scheduler")
    unet = UNet2DConditionModel.from_pretrained(tiny_model["base"], subfolder="unet")
    before = denoising_loss(unet, examples, scheduler)
    unet.load_lora_adapter(str(outcome.lora_path), prefix="unet", adapter_name="trained")
    after = denoising_loss(unet, examples, scheduler)
    assert after < 0.95 * before


def test_the_trained_lora_loads_through_the_generator_and_changes_its_output(trained, sdxl_settings):
    from appliance.reader.descriptions import parse_description
    from pipelines.base import GenerationRequest
    from pipelines.sdxl import SDXLGenerator

    models = ModelStore(sdxl_settings.models_dir, sdxl_settings.manifest_path)
    request = GenerationRequest(spec=parse_description("14k rose gold ring").spec, description="rose gold ring",
                                count=1, seeds=[21], width=64, height=64)

    def draw(gen):
        image = gen.generate(request, lambda fraction, preview=None: None, lambda: False).images[0]
        return np.asarray(image.convert("RGB")).astype(int)

    plain = SDXLGenerator(models, device="cpu", steps=4, guidance=5.0)
    plain.load()
    before = draw(plain)           # drawn first: a loaded generator follows the store's styles
    models.import_style("ours", trained["outcome"].lora_path, trigger="dmrstyle", weight=1.0)
    styled = SDXLGenerator(models, device="cpu", steps=4, guidance=5.0)
    styled.load()
    assert styled.adapters == {"ours": 1.0} and styled.triggers == ["dmrstyle"]
    # Rank 4, alpha 8: the scale travels in the file's metadata.
    assert styled.txt2img.unet.peft_config["ours"].lora_alpha == 8
    assert np.abs(draw(styled) - before).mean() > 1


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(uninterrupted, tiny_model, photos, tmp_path):
    first = trainer(tiny_model, tmp_path, max_steps=4).train(photos)
    assert first.status == "done" and first.step == 4 and latest_checkpoint(tmp_path).name == "checkpoint-000004"
    # A finished job whose LoRA file went missing writes it again from its checkpoint, training nothing.
    kept = first.lora_path.rename(tmp_path / "first.safetensors")
    again = trainer(tiny_model, tmp_path, max_steps=4).train(photos)
    assert again.status == "done" and again.losses == []
    assert_same_weights(again.lora_path, kept)
    rest = trainer(tiny_model, tmp_path, max_steps=8).train(photos)
    assert rest.status == "done" and rest.step == 8
    assert rest.losses == pytest.approx(uninterrupted.losses[4:], abs=1e-6)
    assert_same_weights(rest.lora_path, uninterrupted.lora_path)


def test_a_crash_resumes_from_the_last_periodic_checkpoint(uninterrupted, tiny_model, photos, tmp_path):
    def crash(step, loss):
        if step == 7:
            raise RuntimeError("the worker died")
    with pytest.raises(RuntimeError):
        trainer(tiny_model, tmp_path, max_steps=8, checkpoint_every=3).train(photos, on_progress=crash)
    assert latest_checkpoint(tmp_path).name == "checkpoint-000006"
    again = trainer(tiny_model, tmp_path, max_steps=8, checkpoint_every=3).train(photos)
    assert again.losses == pytest.approx(uninterrupted.losses[6:], abs=1e-6)
    assert_same_weights(again.lora_path, uninterrupted.lora_path)


def test_should_yield_checkpoints_and_a_later_call_finishes_the_same_lora(uninterrupted, tiny_model, photos, tmp_path):
    # A customer round waiting before anything was computed: nothing is lost, nothing saved.
    waiting = trainer(tiny_model, tmp_path, max_steps=8).train(photos, should_yield=lambda: True)
    assert (waiting.status, waiting.step, waiting.checkpoint) == ("yielded", 0, None)

    done_steps = []
    paused = trainer(tiny_model, tmp_path, max_steps=8).train(
        photos, on_progress=lambda step, loss: done_steps.append(step), should_yield=lambda: len(done_steps) == 3)
    assert paused.status == "yielded" and paused.step == 3 and paused.lora_path is None
    assert paused.checkpoint == latest_checkpoint(tmp_path) and paused.checkpoint.name == "checkpoint-000003"
    finished = trainer(tiny_model, tmp_path, max_steps=8).train(photos, should_yield=lambda: False)
    assert finished.status == "done" and finished.step == 8 and len(finished.losses) == 5
    assert_same_weights(finished.lora_path, uninterrupted.lora_path)


def test_a_checkpoint_from_other_settings_is_refused(tiny_model, photos, tmp_path):
    from pipelines.training import TrainingError
    trainer(tiny_model, tmp_path, max_steps=1).train(photos)
    with pytest.raises(TrainingError, match="other settings"):
        trainer(tiny_model, tmp_path, max_steps=2, rank=8).train(photos)


def test_a_checkpoint_from_other_photos_is_not_resumed(tiny_model, photos, tmp_path):
    from pipelines.training import CheckpointMismatch
    trainer(tiny_model, tmp_path, max_steps=1).train(photos)
    with pytest.raises(CheckpointMismatch, match="other photos or captions"):
        trainer(tiny_model, tmp_path, max_steps=2).train(photos[:-1])


def test_micro_conditioning_records_the_true_original_size_and_the_crop(tiny_model, tmp_path):
    # A landscape photo 96 wide, 48 high, with a horizontal gradient so a crop shows where it was taken.
    gradient = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (48, 1, 3))
    path = tmp_path / "wide.png"
    Image.fromarray(gradient).save(path)

    centred = prepare_photo(path, 32, center_crop=True)
    assert centred.original_size == (48, 96) and centred.target_size == (32, 32)
    assert centred.crop_top_left == (0, 16)          # resized to 64 x 32, the middle 32 columns
    assert time_ids(centred) == [48, 96, 0, 16, 32, 32]
    assert centred.pixels.shape == (3, 32, 32) and -1 <= centred.pixels.min() and centred.pixels.max() <= 1

    resized = np.asarray(Image.fromarray(gradient).resize((64, 32), Image.BILINEAR), dtype=np.float32) / 127.5 - 1
    for seed in range(5):
        taken = prepare_photo(path, 32, center_crop=False, rng=random.Random(seed))
        top, left = taken.crop_top_left
        assert top == 0 and 0 <= left <= 32
        expected = resized[top:top + 32, left:left + 32].transpose(2, 0, 1)
        assert np.abs(taken.pixels.numpy() - expected).max() < 1e-6

    photo = TrainingPhoto(path, "a wide photo")
    [example] = cache_examples([photo], lambda: load_encoders(tiny_model["base"]), tmp_path / "cache",
                               resolution=32, center_crop=True, seed=0)
    assert example.time_ids.tolist() == [48, 96, 0, 16, 32, 32]
    assert example.latents.shape == (4, 16, 16)


def test_cached_caption_embeddings_are_what_the_generator_feeds_the_unet(tiny_model):
    from diffusers import StableDiffusionXLPipeline
    encoders = load_encoders(tiny_model["base"])
    embeds, pooled = encoders.encode_prompt("dmrstyle ring photo")
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model["base"])
    theirs, _, theirs_pooled, _ = pipe.encode_prompt("dmrstyle ring photo", device="cpu",
                                                    do_classifier_free_guidance=False)
    assert torch.allclose(embeds, theirs[0], atol=1e-6) and torch.allclose(pooled, theirs_pooled[0], atol=1e-6)


def test_a_single_file_base_trains_the_same_lora_as_its_folder(photos, tmp_path):
    """A base installed as one original-layout checkpoint (with its config folder) trains
    exactly as the same weights installed as a diffusers folder."""
    from diffusers import StableDiffusionXLPipeline

    from tests.pipelines import original_layout, tiny_sdxl
    folder = tiny_sdxl.build(tmp_path / "folder", second_encoder_width=48)
    file = original_layout.save_single_file(StableDiffusionXLPipeline.from_pretrained(folder),
                                            tmp_path / "tiny.safetensors")
    config = TrainingConfig(**{**QUICK, "max_steps": 3})
    by_folder = LoraTrainer.from_folder(folder, tmp_path / "a", config, device="cpu").train(photos)
    by_file = LoraTrainer.from_checkpoint(file, folder, tmp_path / "b", config, device="cpu").train(photos)
    assert by_file.status == "done" and by_file.step == 3
    # The same weights, laid out differently in memory: the same sums up to rounding (a
    # UNet step differs by under 1e-6), which three steps of training grow to about 1e-4.
    assert abs(by_folder.losses[0] - by_file.losses[0]) < 1e-5
    assert_same_weights(by_folder.lora_path, by_file.lora_path, tolerance=1e-3)
