"""SDXL's fast path on the tiny SDXL, on the CPU: it draws what plain diffusers draws, a
round of four equals four single renders, and no shape the studio uses compiles after
the warm-up (torch.compile with the `eager` backend: dynamo's tracing and guards, the
same recompile rules as the store's inductor, without its code generation)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from appliance.ops.models import ModelStore
from appliance.reader.descriptions import parse_description
from pipelines.base import GenerationRequest
from pipelines.sdxl import SDXLGenerator
from pipelines.speed import FastPath, RecompileWatch, choose
from tests.pipelines.conftest import add_speed_lora, make_lora

torch = pytest.importorskip("torch")

SPEC = parse_description("14k rose gold ring with a 1.5 carat oval lab diamond").spec
FAST = FastPath(dtype="float32", fuse_qkv=True, channels_last=True, bake_loras=True, compile=True,
                compile_backend="eager", batch=4, reason="test")


def request(count: int = 1, seeds=(21,), **changes) -> GenerationRequest:
    values = {"spec": SPEC, "description": "rose gold oval ring", "count": count, "seeds": list(seeds),
              "width": 64, "height": 64}
    values.update(changes)
    return GenerationRequest(**values)


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def draw(gen, req, on_image=None):
    return gen.generate(req, lambda fraction, preview=None: None, lambda: False, on_image=on_image)


@pytest.fixture
def models(sdxl_settings, tiny_model, tmp_path):
    """The tiny SDXL with a speed LoRA in the manifest and two style LoRAs, one the default."""
    from diffusers import UNet2DConditionModel
    unet = UNet2DConditionModel.from_pretrained(tiny_model["base"], subfolder="unet")
    speed_file = make_lora(tmp_path / "speed", unet, seed=9)
    manifest = add_speed_lora(sdxl_settings.manifest_path)
    store = ModelStore(sdxl_settings.models_dir, manifest)
    store.import_model("speed", speed_file)
    store.import_style("house", make_lora(tmp_path / "house", unet, seed=3), trigger="dmrhouse", weight=0.8)
    store.import_style("other", make_lora(tmp_path / "other", unet, seed=5), trigger="dmrother", weight=1.0)
    store.set_default_style("house")
    return store


def loaded(models, fast=None) -> SDXLGenerator:
    gen = SDXLGenerator(models, device="cpu", fast=fast, size=64)
    gen.load()
    return gen


def test_the_fast_path_draws_what_plain_diffusers_draws(models):
    plain, fast = loaded(models), loaded(models, FAST)
    assert fast.adapters == plain.adapters == {"speed": 1.0, "house": 0.8}
    assert fast.triggers == plain.triggers == ["dmrhouse"]
    # Baked: no LoRA layer is left in the UNet; fused projections carry the LoRAs.
    assert not any("lora" in name for name, _ in fast.txt2img.unet.named_parameters())
    assert any(hasattr(m, "to_qkv") for m in fast.txt2img.unet.modules())
    for mode in ({}, {"init_image": Image.new("RGB", (64, 64), (180, 140, 90)), "strength": 0.55}):
        a = draw(plain, request(2, (11, 12), **mode)).images
        b = draw(fast, request(2, (11, 12), **mode)).images
        assert len(b) == 2
        for x, y in zip(a, b):
            assert np.abs(pixels(x) - pixels(y)).max() <= 3, "the fast path drew another picture"


def test_four_variations_in_one_batch_equal_four_single_renders(models):
    for gen in (loaded(models), loaded(models, FAST)):
        seeds = [3, 14, 15, 92]
        handed = {}
        together = draw(gen, request(4, seeds), on_image=lambda i, image: handed.setdefault(i, image))
        assert together.seeds == seeds and len(together.images) == 4
        # Each image is handed over as soon as it exists, and is the one returned.
        assert [pixels(handed[i]).tolist() == pixels(together.images[i]).tolist() for i in range(4)] == [True] * 4
        for seed, image in zip(seeds, together.images):
            alone = draw(gen, request(1, [seed])).images[0]
            assert np.abs(pixels(alone) - pixels(image)).max() <= 1


def test_no_shape_the_studio_uses_compiles_after_the_warm_up(models, tiny_model, tmp_path, caplog):
    from diffusers import UNet2DConditionModel
    gen = loaded(models, FAST)
    warmed = RecompileWatch.graphs()
    assert warmed > 0 and gen.watch.after_warmup == warmed
    photo = Image.new("RGB", (90, 70), (200, 170, 120))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (10, 10, 40, 40))
    concept = draw(gen, request(1)).images[0]
    rounds = [request(4, (1, 2, 3, 4)), request(1), request(2, (5, 6)), request(3, (7, 8, 9)),
              request(4, (1, 2, 3, 4), init_image=photo, strength=0.3, init_kind="photo"),
              request(2, (1, 2), init_image=concept, strength=0.8, init_kind="concept"),
              request(4, (1, 2, 3, 4), init_image=concept, mask=mask)]
    for r in rounds:
        assert len(draw(gen, r).images) == r.count
    # Training samples with a LoRA in training, and the jeweler switching the default style.
    unet = UNet2DConditionModel.from_pretrained(tiny_model["base"], subfolder="unet")
    samples = gen.render_samples([SPEC, SPEC, SPEC], [1, 2, 3], "dmrnew", make_lora(tmp_path / "new", unet, seed=11), 64)
    assert len(samples) == 3
    models.set_default_style("other")
    switched = draw(gen, request(1))
    assert "style other" in switched.labels[0] and gen.triggers == ["dmrother"]
    assert RecompileWatch.graphs() == warmed, "a round compiled after the warm-up"
    assert not [r for r in caplog.records if "DEFECT" in r.getMessage()]

    # A shape nobody warmed up is caught and logged as the defect it is.
    with caplog.at_level(logging.ERROR, logger="pipelines.speed"):
        draw(gen, request(1, width=72, height=72))
    assert any("DEFECT" in r.getMessage() and "compiled" in r.getMessage() for r in caplog.records)


def test_switching_styles_bakes_the_new_one_and_gives_back_the_old_pictures(models):
    gen = loaded(models, FAST)
    house = pixels(draw(gen, request(1, [33])).images[0])
    models.set_default_style("other")
    other = pixels(draw(gen, request(1, [33])).images[0])
    assert np.abs(house - other).mean() > 1
    models.set_style("other", enabled=False)               # no default: the speed LoRA alone
    bare = draw(gen, request(1, [33]))
    assert gen.adapters == {"speed": 1.0} and "style" not in bare.labels[0]
    models.set_style("other", enabled=True)
    models.set_default_style("house")
    assert np.abs(pixels(draw(gen, request(1, [33])).images[0]) - house).max() <= 1
    # Restoring and baking again leaves the weights as a fresh load has them.
    fresh = loaded(models, FAST)
    for (name, a), (_, b) in zip(gen.txt2img.unet.named_parameters(), fresh.txt2img.unet.named_parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_the_settings_choose_the_path():
    assert choose("auto", "cpu").compile is False and choose("auto", "cpu").dtype == "float32"
    on_card = choose("auto", "cuda")
    assert on_card.compile and on_card.bake_loras and on_card.fuse_qkv and on_card.channels_last
    assert on_card.dtype == "float16" and on_card.batch == 4 and on_card.compile_backend == "inductor"
    assert choose("auto", "cuda", "bf16").dtype == "bfloat16"
    assert not choose("off", "cuda").compile
    assert choose("on", "cpu", backend="eager").compile
    with pytest.raises(ValueError):
        choose("fast", "cuda")
    # A 24 GB card: the plain path decodes one image at a time; a 12 GB card decodes in tiles.
    assert choose("off", "cuda", card_gib=24).vae_slicing and not choose("off", "cuda", card_gib=80).vae_slicing
    assert choose("auto", "cuda", card_gib=12).vae_tiling and not choose("auto", "cuda", card_gib=24).vae_tiling
    # Inductor's own mode by default; max-autotune (without CUDA graphs) only when asked, on a card.
    assert on_card.compile_mode is None
    assert choose("auto", "cuda", mode="max-autotune").compile_mode == "max-autotune-no-cudagraphs"
    assert choose("on", "cpu", backend="eager", mode="max-autotune").compile_mode is None
    with pytest.raises(ValueError, match="sdxl_compile_mode"):
        choose("auto", "cuda", mode="fastest")


def test_a_small_cards_memory_savers_are_on_and_a_round_still_draws(models):
    saving = loaded(models, FastPath(dtype="float32", vae_slicing=True, vae_tiling=True))
    assert saving.txt2img.vae.use_slicing and saving.txt2img.vae.use_tiling
    # Under the tile size the picture is decoded whole: the same picture as without the savers.
    plain = loaded(models)
    a, b = draw(plain, request(2, (11, 12))).images, draw(saving, request(2, (11, 12))).images
    assert max(np.abs(pixels(x) - pixels(y)).max() for x, y in zip(a, b)) <= 1


def test_the_stores_own_compiler_draws_the_same_pictures_and_compiles_once(models):
    """inductor, as a store's card runs it (here generating CPU code: about a minute)."""
    import dataclasses
    fast = loaded(models, dataclasses.replace(FAST, compile_backend="inductor"))
    warmed = RecompileWatch.graphs()
    plain = loaded(models)
    photo = Image.new("RGB", (64, 64), (180, 140, 90))
    for r in (request(2, (11, 12)), request(4, (1, 2, 3, 4), init_image=photo, strength=0.55)):
        a, b = draw(plain, r).images, draw(fast, r).images
        assert max(np.abs(pixels(x) - pixels(y)).max() for x, y in zip(a, b)) <= 3
    assert RecompileWatch.graphs() == warmed


def test_a_style_that_cannot_be_baked_is_left_out_and_the_next_switch_still_works(models, tmp_path):
    from safetensors.torch import save_file
    gen = loaded(models, FAST)
    bad = tmp_path / "bad.safetensors"
    save_file({"lora_unet_no_such_layer.lora_down.weight": torch.ones(4, 8),
               "lora_unet_no_such_layer.lora_up.weight": torch.ones(8, 4)}, bad)
    models.import_style("broken", bad, trigger="dmrbroken", weight=1.0)
    models.set_default_style("broken")
    drawn = draw(gen, request(1, [5]))              # the round is drawn, without the broken style
    assert "broken" not in drawn.labels[0] and gen.triggers == [] and gen.adapters == {"speed": 1.0}
    assert not any("lora" in name for name, _ in gen.txt2img.unet.named_parameters())
    models.set_default_style("other")
    assert "style other" in draw(gen, request(1, [5])).labels[0]


def test_a_box_that_cannot_compile_still_draws(models, monkeypatch, caplog):
    def no_compiler(self):
        raise RuntimeError("InductorError: CalledProcessError: gcc: command not found")
    monkeypatch.setattr(SDXLGenerator, "warm_up", no_compiler)
    with caplog.at_level(logging.ERROR, logger="pipelines.sdxl"):
        gen = loaded(models, FAST)
    assert not gen.fast.compile and gen.txt2img.unet._compiled_call_impl is None
    assert any("torch.compile failed" in r.getMessage() for r in caplog.records)
    assert len(draw(gen, request(2, (1, 2))).images) == 2
