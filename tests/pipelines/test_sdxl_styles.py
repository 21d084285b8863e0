"""The sdxl generator follows the store's style choice round by round, on the tiny SDXL:
the jeweler switches styles in the lock file (another process) and the loaded generator's
next round is drawn with what the lock says; render_samples compares a LoRA with and
without it and leaves customer rounds as they were."""

import logging
import shutil

import numpy as np
import pytest

from appliance.ops.models import ModelStore
from appliance.reader.descriptions import parse_description
from pipelines.base import GenerationRequest
from pipelines.sdxl import SDXLGenerator
from tests.pipelines.conftest import make_lora

torch = pytest.importorskip("torch")

SPEC = parse_description("14k rose gold ring with a 1.5 carat oval lab diamond").spec
OTHER = parse_description("platinum pendant with a pear sapphire").spec


def request(seed: int = 21) -> GenerationRequest:
    return GenerationRequest(spec=SPEC, description="rose gold oval ring", count=1, seeds=[seed], width=64, height=64)


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def draw(gen, seed: int = 21):
    result = gen.generate(request(seed), lambda fraction, preview=None: None, lambda: False)
    return pixels(result.images[0]), result.labels[0]


@pytest.fixture(scope="module")
def loras(tiny_model, tmp_path_factory) -> dict:
    """Two different LoRA files for the tiny UNet, made on a UNet of their own."""
    from diffusers import UNet2DConditionModel
    unet = UNet2DConditionModel.from_pretrained(tiny_model["base"], subfolder="unet")
    root = tmp_path_factory.mktemp("loras")
    return {"a": make_lora(root / "a", unet, seed=3), "b": make_lora(root / "b", unet, seed=7)}


@pytest.fixture
def models(sdxl_settings):
    return ModelStore(sdxl_settings.models_dir, sdxl_settings.manifest_path)


def loaded(models, **options) -> SDXLGenerator:
    gen = SDXLGenerator(models, device="cpu", steps=4, guidance=5.0, **options)
    gen.load()
    return gen


def test_a_style_switched_on_and_made_default_changes_the_next_round_and_brings_its_trigger(
        models, loras, monkeypatch):
    gen = loaded(models)
    base, label = draw(gen)
    assert label == "SDXL concept (txt2img), seed 21" and gen.triggers == []
    models.import_style("ours", loras["a"], trigger="dmrstyle", weight=1.0, enabled=False, source="trained")
    assert np.array_equal(draw(gen)[0], base)                 # installed off: not even loaded
    models.set_style("ours", enabled=True)
    assert np.array_equal(draw(gen)[0], base)                 # on, loaded, but not the default
    assert gen.adapters == {} and "ours" in gen.txt2img.get_list_adapters()["unet"]
    models.set_default_style("ours")
    prompts_seen = []
    encode = gen.encode
    monkeypatch.setattr(gen, "encode", lambda prompt, guided: prompts_seen.append(prompt) or encode(prompt, guided))
    styled, label = draw(gen)
    assert np.abs(styled - base).mean() > 1
    assert label == "SDXL concept (txt2img, style ours), seed 21"
    assert gen.adapters == {"ours": 1.0} and gen.triggers == ["dmrstyle"]
    assert prompts_seen[0].startswith("dmrstyle, ")


def test_switching_the_style_off_makes_the_same_generator_draw_the_base_model_again(models, loras):
    gen = loaded(models)
    base, _ = draw(gen)
    models.import_style("ours", loras["a"], trigger="dmrstyle", weight=1.0)
    assert np.abs(draw(gen)[0] - base).mean() > 1
    models.set_style("ours", enabled=False)                   # as the staff app would, from its own process
    plain, label = draw(gen)
    assert np.array_equal(plain, base) and label == "SDXL concept (txt2img), seed 21" and gen.triggers == []
    assert "ours" not in gen.txt2img.get_list_adapters().get("unet", [])
    models.set_style("ours", enabled=True)
    models.set_default_style("ours")
    models.remove_style("ours")
    assert np.array_equal(draw(gen)[0], base)


def test_switching_the_default_from_one_style_to_another_changes_the_output(models, loras):
    models.import_style("first", loras["a"], trigger="one", weight=1.0)
    models.import_style("second", loras["b"], trigger="two", weight=1.0)
    gen = loaded(models)
    first, label = draw(gen)
    assert label.endswith("style first), seed 21") and gen.triggers == ["one"]
    models.set_default_style("second")
    second, label = draw(gen)
    assert label.endswith("style second), seed 21") and gen.triggers == ["two"]
    assert np.abs(first - second).mean() > 1
    models.set_style("second", weight=0.5)
    assert np.abs(draw(gen)[0] - second).mean() > 0.5
    models.set_default_style("first")
    assert np.array_equal(draw(gen)[0], first)


def test_a_style_file_altered_after_install_is_not_used(models, loras, caplog):
    gen = loaded(models)
    base, _ = draw(gen)
    style = models.import_style("ours", loras["a"], trigger="dmrstyle", weight=1.0, enabled=False)
    shutil.copyfile(loras["b"], models.dir / style.file)     # not the file that was installed
    models.set_style("ours", enabled=True)
    models.set_default_style("ours")
    with caplog.at_level(logging.ERROR, logger="pipelines.sdxl"):
        pixels_now, label = draw(gen)
    assert np.array_equal(pixels_now, base) and label == "SDXL concept (txt2img), seed 21"
    assert gen.triggers == [] and "changed since it was installed" in caplog.text
    fresh = loaded(models)                                   # a new worker refuses it too
    assert fresh.adapters == {} and np.array_equal(draw(fresh)[0], base)


def test_a_file_that_is_no_lora_for_this_model_is_left_out_and_rounds_go_on(models, loras, tmp_path, caplog):
    from safetensors.torch import save_file
    gen = loaded(models)
    base, _ = draw(gen)
    stranger = tmp_path / "stranger.safetensors"
    save_file({"some_other_model.layer.weight": torch.ones(4, 4)}, stranger)
    models.import_style("stranger", stranger, trigger="odd", weight=1.0)
    with caplog.at_level(logging.ERROR, logger="pipelines.sdxl"):
        pixels_now, _ = draw(gen)
    assert np.array_equal(pixels_now, base) and gen.triggers == [] and "could not be loaded" in caplog.text
    models.import_style("ours", loras["a"], trigger="", weight=1.0)
    models.set_default_style("ours")
    assert np.abs(draw(gen)[0] - base).mean() > 1            # the next good style still loads


def test_a_fused_generator_follows_the_store_too(models, loras):
    gen = loaded(models, fuse_loras=True)
    base, _ = draw(gen)
    models.import_style("ours", loras["a"], trigger="", weight=0.7)
    styled, _ = draw(gen)
    assert np.abs(styled - base).mean() > 1
    assert np.abs(styled - draw(loaded(models))[0]).max() <= 2     # fused or not, the same picture
    models.set_style("ours", enabled=False)
    assert np.abs(draw(gen)[0] - base).max() <= 2


def test_render_samples_compares_with_and_without_a_lora_and_restores_the_store_style(models, loras):
    models.import_style("ours", loras["a"], trigger="dmrstyle", weight=1.0)
    gen = loaded(models)
    before, _ = draw(gen)
    specs, seeds = [SPEC, OTHER], [5, 6]
    without = gen.render_samples(specs, seeds, "newstyle", None, 64)
    again = gen.render_samples(specs, seeds, "newstyle", None, 64)
    assert len(without) == 2 and without[0].size == (64, 64)
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(without, again))
    with_lora = gen.render_samples(specs, seeds, "newstyle", loras["b"], 64)
    assert all(np.abs(pixels(a) - pixels(b)).mean() > 1 for a, b in zip(without, with_lora))
    after, label = draw(gen)
    assert np.array_equal(after, before) and label.endswith("style ours), seed 21")
    assert gen.adapters == {"ours": 1.0} and "_sample" not in gen.txt2img.get_list_adapters()["unet"]
    # The store's style is not in the samples: without the LoRA is the base model alone.
    models.set_style("ours", enabled=False)
    plain = gen.render_samples(specs, seeds, "newstyle", None, 64)
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(plain, without))
