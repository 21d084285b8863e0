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


def _round(init, strength, kind, seeds=(11, 12, 13, 14), text="14k rose gold ring with a 1.5 carat oval diamond"):
    request = GenerationRequest(spec=spec(text), description="x", count=len(seeds), seeds=list(seeds), width=256,
                                height=256, init_image=init, strength=strength, init_kind=kind)
    return SketchGenerator().generate(request, lambda *a: None, lambda: False)


def _distance(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=float) - np.asarray(b.resize(a.size), dtype=float)).mean())


def test_more_like_this_moves_further_from_the_concept_the_more_different_asked():
    from pipelines.sketch import view_of
    concept = render(spec("14k rose gold ring with a 1.5 carat oval diamond"), 2, seed=4, size=256)[0]
    assert view_of(concept, spec("14k rose gold ring with a 1.5 carat oval diamond")) == 2
    distance = {s: np.mean([_distance(i, concept) for i in _round(concept, s, "concept").images])
                for s in (0.3, 0.55, 0.8)}
    assert distance[0.3] < distance[0.55] < distance[0.8]
    little = _round(concept, 0.3, "concept")
    assert all("low angle" in label for label in little.labels)            # the concept's own view kept
    assert len({label for label in _round(concept, 0.8, "concept").labels}) >= 3


def test_a_reference_photo_gives_the_sketch_its_colours_and_outline():
    from PIL import Image, ImageDraw
    photo = Image.new("RGB", (400, 400), (40, 90, 200))                     # a blue photo ...
    ImageDraw.Draw(photo).rectangle([60, 60, 340, 340], outline=(10, 10, 10), width=14)   # ... with a square in it
    traced = _round(photo, 0.3, "photo", seeds=(5,)).images[0]
    plain = render(spec("14k rose gold ring with a 1.5 carat oval diamond"), 0, seed=5, size=256)[0]
    corner = np.asarray(traced)[5:30, 100:150].reshape(-1, 3).mean(axis=0)
    assert corner[2] > corner[0] + 25                                       # the backdrop turned blue
    edge = np.asarray(traced.convert("L"), dtype=float)[60:200, 35:41].mean()   # the square's left side, scaled
    assert edge < np.asarray(plain.convert("L"), dtype=float)[60:200, 35:41].mean() - 25
    faint = _round(photo, 0.8, "photo", seeds=(5,)).images[0]
    assert np.asarray(faint.convert("L"), dtype=float)[60:200, 35:41].mean() > edge   # fainter when very different
    assert "from your photo" in _round(photo, 0.55, "photo", seeds=(5,)).labels[0]
