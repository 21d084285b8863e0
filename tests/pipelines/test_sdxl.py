"""The sdxl generator on a tiny random SDXL, on the CPU: the same code a store's GPU runs."""

import numpy as np
import pytest

from appliance.ops.models import ModelStore
from appliance.reader.descriptions import parse_description
from appliance.studio.generation import DeviceLost, resolve
from pipelines import prompts
from pipelines.base import GenerationCancelled, GenerationRequest
from pipelines.sdxl import GeneratorBroken, GeneratorOutOfMemory, SDXLGenerator
from tests.pipelines.conftest import add_speed_lora, make_lora

torch = pytest.importorskip("torch")

SPEC = parse_description("14k rose gold ring with a 1.5 carat oval lab diamond, tiny diamonds on the band").spec


def request(**changes) -> GenerationRequest:
    values = {"spec": SPEC, "description": "rose gold oval ring", "count": 2, "seeds": [11, 12], "width": 64,
              "height": 64}
    values.update(changes)
    return GenerationRequest(**values)


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


@pytest.fixture
def models(sdxl_settings):
    return ModelStore(sdxl_settings.models_dir, sdxl_settings.manifest_path)


@pytest.fixture
def generator(models):
    gen = SDXLGenerator(models, device="cpu", steps=4, guidance=5.0)
    gen.load()
    return gen


def run(gen, req, progress=None, cancelled=lambda: False):
    return gen.generate(req, progress or (lambda fraction, preview=None: None), cancelled)


def test_our_txt2img_is_exactly_what_diffusers_computes(generator, models):
    from diffusers import AutoencoderKL, StableDiffusionXLPipeline
    ours = run(generator, request())
    manifest = models.manifest()
    direct = StableDiffusionXLPipeline.from_pretrained(
        models.folder(manifest["base"]), vae=AutoencoderKL.from_pretrained(models.folder(manifest["vae"])))
    prompt, _ = prompts.fit(prompts.prompt_parts(SPEC, "rose gold oval ring"), generator.count_tokens)
    embeds = generator.encode(prompt, guided=True)
    theirs = direct(**embeds, num_images_per_prompt=2, generator=[torch.Generator().manual_seed(s) for s in (11, 12)],
                    num_inference_steps=4, guidance_scale=5.0, height=64, width=64, output_type="pil").images
    assert ours.seeds == [11, 12] and len(ours.images) == 2
    for a, b in zip(ours.images, theirs):
        assert np.abs(pixels(a) - pixels(b)).max() <= 1


def test_each_seed_reproduces_its_own_image(generator):
    pair = run(generator, request(seeds=[11, 12]))
    alone = run(generator, request(count=1, seeds=[12]))
    assert np.abs(pixels(pair.images[1]) - pixels(alone.images[0])).max() <= 1
    assert np.abs(pixels(pair.images[0]) - pixels(pair.images[1])).mean() > 1


def test_img2img_starts_from_the_given_picture(generator):
    start = run(generator, request(count=1, seeds=[5])).images[0]
    near = run(generator, request(count=1, seeds=[6], init_image=start, strength=0.3)).images[0]
    far = run(generator, request(count=1, seeds=[6])).images[0]
    assert near.size == (64, 64)
    assert np.abs(pixels(near) - pixels(start)).mean() < np.abs(pixels(far) - pixels(start)).mean()


def test_inpainting_keeps_every_pixel_outside_the_mask(generator):
    from PIL import Image, ImageDraw
    start = run(generator, request(count=1, seeds=[5])).images[0]
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle([16, 16, 47, 47], fill=255)
    edited = run(generator, request(count=1, seeds=[9], init_image=start, mask=mask)).images[0]
    outside = np.asarray(mask) == 0
    assert np.array_equal(pixels(edited)[outside], pixels(start)[outside])
    assert np.abs(pixels(edited)[~outside] - pixels(start)[~outside]).mean() > 1


def test_progress_previews_and_cancel_between_steps(generator):
    seen = []
    run(generator, request(count=1, seeds=[1]), lambda fraction, preview=None: seen.append((fraction, preview)))
    assert [round(f, 2) for f, _ in seen] == [0.25, 0.5, 0.75, 1.0]
    previews = [resolve(p) for _, p in seen if p is not None]
    assert len(previews) == 2 and previews[0].mode == "RGB" and previews[0].size == (32, 32)
    steps = []
    with pytest.raises(GenerationCancelled):
        run(generator, request(count=1, seeds=[1]), lambda f, p=None: steps.append(f), cancelled=lambda: len(steps) >= 2)
    assert len(steps) == 2


def test_a_style_lora_changes_the_output_and_unloading_restores_it(models, generator, tmp_path):
    base = run(generator, request(count=1, seeds=[21])).images[0]
    lora = make_lora(tmp_path / "lora", generator.txt2img.unet)
    models.import_style("house", lora, trigger="", weight=1.0)
    styled = SDXLGenerator(models, device="cpu", steps=4, guidance=5.0)
    styled.load()
    assert styled.adapters == {"house": 1.0}
    changed = run(styled, request(count=1, seeds=[21])).images[0]
    assert np.abs(pixels(changed) - pixels(base)).mean() > 1
    styled.unload_loras()
    restored = run(styled, request(count=1, seeds=[21])).images[0]
    assert np.array_equal(pixels(restored), pixels(base))


def test_kohya_style_lora_files_load_too(models, generator, tmp_path):
    base = run(generator, request(count=1, seeds=[21])).images[0]
    lora = make_lora(tmp_path / "kohya", generator.txt2img.unet, kohya=True)
    models.import_style("kohya", lora, trigger="kohyastyle", weight=0.8)
    styled = SDXLGenerator(models, device="cpu", steps=4, guidance=5.0)
    styled.load()
    assert styled.adapters == {"kohya": 0.8} and styled.triggers == ["kohyastyle"]
    assert np.abs(pixels(run(styled, request(count=1, seeds=[21])).images[0]) - pixels(base)).mean() > 1


def test_fused_loras_give_the_same_picture_as_adapters(models, generator, tmp_path):
    models.import_style("house", make_lora(tmp_path / "lora", generator.txt2img.unet), trigger="", weight=0.7)
    adapters = SDXLGenerator(models, device="cpu", steps=4, guidance=5.0)
    fused = SDXLGenerator(models, device="cpu", steps=4, guidance=5.0, fuse_loras=True)
    adapters.load()
    fused.load()
    a = run(adapters, request(count=1, seeds=[4])).images[0]
    b = run(fused, request(count=1, seeds=[4])).images[0]
    assert np.abs(pixels(a) - pixels(b)).max() <= 2


def test_out_of_memory_fails_the_round_and_the_next_one_runs(generator, monkeypatch):
    unet = generator.txt2img.unet
    real = unet.forward
    calls = {"n": 0}

    def once_out_of_memory(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", once_out_of_memory)
    with pytest.raises(GeneratorOutOfMemory, match="ran out of memory"):
        run(generator, request(count=1))
    assert len(run(generator, request(count=1)).images) == 1


def test_an_unusable_device_is_fatal(generator, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    monkeypatch.setattr(generator.txt2img.unet, "forward", broken)
    with pytest.raises(GeneratorBroken) as info:
        run(generator, request(count=1))
    assert isinstance(info.value, DeviceLost)       # the worker's contract: this one ends the worker


def test_the_speed_lora_sets_few_steps_trailing_timesteps_and_no_guidance(sdxl_settings, tiny_model, generator, tmp_path):
    lora = make_lora(tmp_path / "speed", generator.txt2img.unet, seed=9)
    manifest = add_speed_lora(sdxl_settings.manifest_path)
    models = ModelStore(sdxl_settings.models_dir, manifest)
    models.import_model("speed", lora)
    fast = SDXLGenerator(models, device="cpu")
    fast.load()
    assert (fast.steps, fast.guidance, fast.adapters) == (3, 0.0, {"speed": 1.0})
    assert fast.txt2img.scheduler.config.timestep_spacing == "trailing"
    seen = []
    result = run(fast, request(count=1, seeds=[2]), lambda f, p=None: seen.append(f))
    assert len(result.images) == 1 and len(seen) == 3
