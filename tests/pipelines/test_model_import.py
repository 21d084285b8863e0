"""`diamra models import` of a diffusers folder with or without the fp16 variant files the
manifest names (the real manifest names SDXL's fp16 files), on the tiny SDXL: each
installs, verifies against the hashes recorded in the lock, and renders the same picture."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from appliance.config import load_settings
from appliance.ops.models import ModelError, ModelStore
from appliance.reader.descriptions import parse_description
from pipelines.base import GenerationRequest
from pipelines.sdxl import SDXLGenerator

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def folders(tiny_model, tmp_path_factory):
    """The tiny SDXL saved twice: with fp16 variant files (as the hub ships SDXL) and plain."""
    from diffusers import StableDiffusionXLPipeline
    root = tmp_path_factory.mktemp("variants")
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model["base"])
    pipe.save_pretrained(root / "variant", variant="fp16")
    return {"variant": root / "variant", "plain": tiny_model["base"]}


def manifest_for(path, variant_folder):
    names = sorted(str(p.relative_to(variant_folder)) for p in variant_folder.rglob("*") if p.is_file())
    assert any(".fp16." in name for name in names)
    path.write_text('[models.base]\nkind = "base"\nrepo = "tests/tiny-sdxl"\nlicence = "test"\nfolder = "base"\n'
                    f'files = [{", ".join(json.dumps(n) for n in names)}]\n')
    return path


def render(data_dir, manifest) -> np.ndarray:
    settings = load_settings(data_dir, manifest=str(manifest), device="cpu")
    gen = SDXLGenerator(ModelStore(settings.models_dir, manifest), device="cpu", steps=3, guidance=5.0)
    gen.load()
    request = GenerationRequest(spec=parse_description("yellow gold ring").spec, description="", count=1, seeds=[8],
                                width=64, height=64)
    image = gen.generate(request, lambda fraction, preview=None: None, lambda: False).images[0]
    return np.asarray(image.convert("RGB")).astype(int)


def test_a_folder_with_or_without_the_fp16_files_installs_verifies_and_renders_the_same(folders, tmp_path):
    manifest = manifest_for(tmp_path / "manifest.toml", folders["variant"])
    with_variant = ModelStore(tmp_path / "a" / "models", manifest)
    with_variant.import_model("base", folders["variant"])
    assert "installed_as" not in with_variant.lock()["models"]["base"]
    assert all(check.status == "ok" for check in with_variant.verify())

    plain = ModelStore(tmp_path / "b" / "models", manifest)
    plain.import_model("base", folders["plain"])
    entry = plain.lock()["models"]["base"]
    assert entry["installed_as"]["unet/diffusion_pytorch_model.fp16.safetensors"] == \
        "unet/diffusion_pytorch_model.safetensors"
    assert not list(plain.folder(plain.manifest()["base"]).rglob("*.fp16.*"))
    assert all(check.status == "ok" for check in plain.verify())
    assert np.array_equal(render(tmp_path / "a", manifest), render(tmp_path / "b", manifest))

    # A changed plain file is caught like any other.
    unet = plain.folder(plain.manifest()["base"]) / "unet" / "diffusion_pytorch_model.safetensors"
    unet.write_bytes(unet.read_bytes()[:-1] + b"\0")
    assert [c.status for c in plain.verify() if c.path.startswith("unet/diffusion")] == ["wrong"]


def test_importing_plain_over_a_variant_install_leaves_no_variant_file_behind(folders, tmp_path):
    manifest = manifest_for(tmp_path / "manifest.toml", folders["variant"])
    store = ModelStore(tmp_path / "models", manifest)
    store.import_model("base", folders["variant"])
    store.import_model("base", folders["plain"])
    assert not list(store.folder(store.manifest()["base"]).rglob("*.fp16.*"))
    assert all(check.status == "ok" for check in store.verify())


def test_a_folder_missing_a_weight_file_is_named(folders, tmp_path):
    manifest = manifest_for(tmp_path / "manifest.toml", folders["variant"])
    broken = tmp_path / "broken"
    shutil.copytree(folders["plain"], broken)
    (broken / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"lacks vae/diffusion_pytorch_model\.safetensors"):
        ModelStore(tmp_path / "models", manifest).import_model("base", broken)
