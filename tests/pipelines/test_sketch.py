import numpy as np
import pytest

from appliance.config import load_settings
from appliance.jewelry import catalog
from appliance.reader.descriptions import parse_description
from pipelines import registry
from pipelines.base import GenerationCancelled, GenerationRequest
from pipelines.sketch import SketchGenerator, render


def spec(text):
    return parse_description(text).spec


def colour_share(image, rgb, tolerance=28) -> float:
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    return float((np.abs(pixels - np.array(rgb)).max(axis=1) < tolerance).mean())


def test_the_metal_colour_shows_in_the_drawing():
    rose = render(spec("14k rose gold ring with a 1 carat diamond"), 0, seed=1, size=256)[0]
    white = render(spec("14k white gold ring with a 1 carat diamond"), 0, seed=1, size=256)[0]
    rose_rgb = catalog.METALS["14k_rose"].rgb
    assert colour_share(rose, rose_rgb, 45) > 0.01
    assert colour_share(rose, rose_rgb, 45) > 5 * colour_share(white, rose_rgb, 45)


def test_a_coloured_stone_shows_its_colour():
    ruby = render(spec("platinum ring with a 2 carat oval ruby"), 1, seed=3, size=256)[0]
    diamond = render(spec("platinum ring with a 2 carat oval diamond"), 1, seed=3, size=256)[0]
    red = catalog.STONE_TYPES["ruby"].rgb
    assert colour_share(ruby, red, 60) > 0.005 > colour_share(diamond, red, 60)


def test_four_concepts_differ_and_the_same_seed_repeats():
    s = spec("14k yellow gold ring with a 1 carat cushion sapphire and small diamonds on the band")
    images = [np.asarray(render(s, i, seed=7, size=256)[0]) for i in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(images[i].astype(int) - images[j]).mean() > 3
    assert np.array_equal(images[0], np.asarray(render(s, 0, seed=7, size=256)[0]))


@pytest.mark.parametrize("text", ["pendant with a pear ruby", "diamond stud earrings", "tennis bracelet with diamonds",
                                  "necklace with an emerald", "plain platinum band"])
def test_every_piece_type_draws(text):
    image, label = render(spec(text), 2, seed=5, size=128)
    assert image.size == (128, 128) and "sketch preview" in label.lower()
    assert np.asarray(image).std() > 5


def test_progress_is_reported_per_image_and_cancel_stops_between_images():
    generator = SketchGenerator()
    progress = []
    request = GenerationRequest(spec=spec("rose gold ring"), description="x", count=3, seeds=[1, 2, 3], width=128, height=128)
    result = generator.generate(request, lambda fraction, preview: progress.append(fraction), lambda: False)
    assert len(result.images) == 3 and progress == pytest.approx([1 / 3, 2 / 3, 1])
    with pytest.raises(GenerationCancelled):
        generator.generate(request, lambda fraction, preview: progress.append(fraction), lambda: len(progress) > 4)


def test_auto_falls_back_to_the_sketch_renderer_and_says_why(tmp_path):
    settings = load_settings(tmp_path)
    generator, reason = registry.create("auto", settings)
    assert generator.name == "sketch" and "sketch renderer" in reason
    assert any(words in reason for words in ("no CUDA", "not installed", "model"))
    with pytest.raises(registry.GeneratorUnavailable, match="cannot run"):
        registry.create("sdxl", settings)
