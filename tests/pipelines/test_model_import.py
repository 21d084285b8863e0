"""`diamra models import` of a diffusers folder with or without the fp16 variant files the
manifest names (the real manifest names SDXL's fp16 files), or of one single-file SDXL
checkpoint in Stability's original layout, on the tiny SDXL: each installs, verifies
against the hashes recorded in the lock, and renders the same picture. A file that is
not an SDXL base checkpoint is refused, naming what it is; SDXL base's shipped configs
describe SDXL base."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from appliance import cli
from appliance.config import load_settings
from appliance.ops import checkpoints
from appliance.ops.models import ModelError, ModelStore
from appliance.reader.descriptions import parse_description
from pipelines.base import GenerationRequest
from pipelines.sdxl import SDXLGenerator
from tests.pipelines import original_layout, tiny_sdxl
from tests.pipelines.conftest import add_speed_lora, make_lora

torch = pytest.importorskip("torch")

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "models" / "sdxl-base-config"


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


# ---------------------------------------------------------------- a single-file checkpoint


@pytest.fixture(scope="module")
def single_file(tmp_path_factory):
    """A tiny SDXL as a diffusers folder (its configs are the checkpoint's --config) and as one
    checkpoint in the original layout. Its second text encoder is wider than the first, as
    SDXL's are (1280 and 768): diffusers' single-file loader tells the two apart by width."""
    from diffusers import StableDiffusionXLPipeline
    root = tmp_path_factory.mktemp("single-file")
    folder = tiny_sdxl.build(root / "folder", second_encoder_width=48)
    pipe = StableDiffusionXLPipeline.from_pretrained(folder)
    return {"folder": folder, "file": original_layout.save_single_file(pipe, root / "tiny-sdxl.safetensors"),
            "pipe": pipe, "root": root}


def plain_manifest(path, folder, extra: str = "") -> Path:
    """A manifest naming the tiny folder's own (plain) files as the base model."""
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    path.write_text('[models.base]\nkind = "base"\nrepo = "tests/tiny-sdxl"\nlicence = "test"\nfolder = "base"\n'
                    f'files = [{", ".join(json.dumps(n) for n in names)}]\n{extra}')
    return path


def render_rounds(data_dir, manifest) -> list[np.ndarray]:
    """A text-to-image concept and a "more like this" of it, through the real generator."""
    settings = load_settings(data_dir, manifest=str(manifest), device="cpu")
    gen = SDXLGenerator(ModelStore(settings.models_dir, manifest), device="cpu", steps=3, guidance=5.0)
    gen.load()
    spec = parse_description("yellow gold ring").spec
    quiet = (lambda fraction, preview=None: None), (lambda: False)
    first = gen.generate(GenerationRequest(spec=spec, description="", count=1, seeds=[8], width=64, height=64),
                         *quiet).images[0]
    again = gen.generate(GenerationRequest(spec=spec, description="", count=1, seeds=[9], width=64, height=64,
                                           init_image=first, strength=0.6, init_kind="concept"), *quiet).images[0]
    return [np.asarray(image.convert("RGB")).astype(int) for image in (first, again)]


def test_the_original_layout_file_loads_back_weight_for_weight(single_file):
    from diffusers import StableDiffusionXLPipeline
    back = StableDiffusionXLPipeline.from_single_file(str(single_file["file"]), config=str(single_file["folder"]),
                                                      local_files_only=True)
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        original, loaded = getattr(single_file["pipe"], part).state_dict(), getattr(back, part).state_dict()
        assert original.keys() == loaded.keys(), part
        assert all(torch.equal(original[k], loaded[k]) for k in original), part


def test_a_single_file_checkpoint_installs_verifies_and_renders_as_its_folder_does(single_file, tmp_path):
    manifest = plain_manifest(tmp_path / "manifest.toml", single_file["folder"])
    folder_store = ModelStore(tmp_path / "a" / "models", manifest)
    folder_store.import_model("base", single_file["folder"])
    store = ModelStore(tmp_path / "b" / "models", manifest)
    store.import_model("base", single_file["file"], config=single_file["folder"])

    entry = store.lock()["models"]["base"]
    assert (entry["format"], entry["checkpoint"], entry["config"]) == \
        ("single_file", "checkpoint.safetensors", str(single_file["folder"]))
    assert entry["files"]["checkpoint.safetensors"] == checkpoints.sha256_of(single_file["file"])
    assert {"config/model_index.json", "config/unet/config.json", "config/tokenizer_2/tokenizer_config.json"} <= \
        set(entry["files"])
    installed = store.folder(store.manifest()["base"])
    assert sorted(p.name for p in installed.iterdir()) == ["checkpoint.safetensors", "config"]
    assert not list((installed / "config").rglob("*.safetensors"))      # configs only, never weights
    assert [c.status for c in store.verify()] == ["ok"] * len(entry["files"])

    for by_folder, by_file in zip(render_rounds(tmp_path / "a", manifest), render_rounds(tmp_path / "b", manifest)):
        assert np.abs(by_folder - by_file).max() <= 2

    checkpoint = installed / "checkpoint.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:-1] + b"\1")
    assert [(c.path, c.status) for c in store.problems()] == [("checkpoint.safetensors", "wrong")]


def test_a_folder_import_replaces_a_single_file_install_and_back(single_file, tmp_path, monkeypatch):
    manifest = plain_manifest(tmp_path / "manifest.toml", single_file["folder"])
    store = ModelStore(tmp_path / "models", manifest)
    spec = store.manifest()["base"]
    installed = store.folder(spec)
    # Through the command line, as a store does it.
    monkeypatch.setattr(cli, "_model_store", lambda settings: store)
    monkeypatch.setattr(cli, "_settings", lambda args: None)
    imported = cli.parser().parse_args(["models", "import", str(single_file["file"]), "--config",
                                        str(single_file["folder"])])
    assert cli.cmd_models(imported) == 0
    assert store.checkpoint(spec).file == installed / "checkpoint.safetensors"

    store.import_model("base", single_file["folder"])
    assert store.checkpoint(spec) is None and store.lock()["models"]["base"]["format"] == "diffusers"
    assert not (installed / "checkpoint.safetensors").exists() and not (installed / "config").exists()
    assert all(c.status == "ok" for c in store.verify())

    assert cli.cmd_models(imported) == 0
    assert sorted(p.name for p in installed.iterdir()) == ["checkpoint.safetensors", "config"]
    assert all(c.status == "ok" for c in store.verify())


def test_the_fp16_fixed_vae_and_the_speed_lora_apply_on_top_of_a_single_file_base(single_file, tiny_model, tmp_path):
    from diffusers import AutoencoderKL
    vae_files = sorted(str(p.relative_to(tiny_model["vae"])) for p in tiny_model["vae"].rglob("*") if p.is_file())
    manifest = add_speed_lora(plain_manifest(
        tmp_path / "manifest.toml", single_file["folder"],
        '\n[models.vae]\nkind = "vae"\nrepo = "tests/tiny-vae"\nlicence = "test"\nfolder = "tiny-vae"\n'
        f'files = [{", ".join(json.dumps(n) for n in vae_files)}]\n'))
    store = ModelStore(tmp_path / "data" / "models", manifest)
    store.import_model("base", single_file["file"], config=single_file["folder"])
    store.import_model("vae", tiny_model["vae"])
    store.import_model("speed", make_lora(tmp_path / "lora", single_file["pipe"].unet))
    gen = SDXLGenerator(store, device="cpu", guidance=0.0)
    gen.load()
    separate = AutoencoderKL.from_pretrained(tiny_model["vae"]).state_dict()
    assert all(torch.equal(separate[k], v) for k, v in gen.txt2img.vae.state_dict().items())
    assert "speed" in gen.adapters and gen.steps == 3
    request = GenerationRequest(spec=parse_description("platinum band").spec, description="", count=1, seeds=[3],
                                width=64, height=64)
    assert gen.generate(request, lambda fraction, preview=None: None, lambda: False).images[0].size == (64, 64)


def fake_checkpoint(path, names: list[str]) -> Path:
    from safetensors.torch import save_file
    save_file({name: torch.zeros(2, 2) for name in names}, str(path))
    return path


@pytest.mark.parametrize("names, found", [
    (["model.diffusion_model.input_blocks.0.0.weight", "first_stage_model.encoder.conv_in.weight",
      "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight"],
     "a Stable Diffusion 1.x checkpoint"),
    (["model.diffusion_model.input_blocks.0.0.weight", "first_stage_model.encoder.conv_in.weight",
      "conditioner.embedders.0.model.positional_embedding"], "an SDXL refiner checkpoint"),
    (["lora_unet_down_blocks_1_attentions_0_proj_in.lora_down.weight",
      "lora_unet_down_blocks_1_attentions_0_proj_in.lora_up.weight"], "a LoRA"),
    (["model.diffusion_model.input_blocks.0.0.weight", "model.diffusion_model.out.2.weight"],
     "only the UNet of an SDXL checkpoint, without the VAE"),
])
def test_a_file_that_is_not_an_sdxl_base_checkpoint_is_refused_naming_what_it_is(single_file, tmp_path, names,
                                                                                  found):
    manifest = plain_manifest(tmp_path / "manifest.toml", single_file["folder"])
    store = ModelStore(tmp_path / "models", manifest)
    other = fake_checkpoint(tmp_path / "other.safetensors", names)
    with pytest.raises(ModelError, match="^" + re.escape(f"{other} is {found}")):
        store.import_model("base", other, config=single_file["folder"])
    assert "base" not in store.lock()["models"] and not store.dir.joinpath("base").exists()


def test_a_file_that_is_not_safetensors_or_is_cut_short_is_refused(single_file, tmp_path):
    manifest = plain_manifest(tmp_path / "manifest.toml", single_file["folder"])
    store = ModelStore(tmp_path / "models", manifest)
    pickle = tmp_path / "model.ckpt"
    pickle.write_bytes(b"PK\x03\x04 a zipped pickle")
    with pytest.raises(ModelError, match=r"model\.ckpt is not a \.safetensors file: .* a pickle that can run code"):
        store.import_model("base", pickle, config=single_file["folder"])
    renamed = tmp_path / "renamed.safetensors"
    renamed.write_bytes(pickle.read_bytes())
    with pytest.raises(ModelError, match=r"renamed\.safetensors is named \.safetensors but is not a safetensors"):
        store.import_model("base", renamed, config=single_file["folder"])
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(single_file["file"].read_bytes()[:-4096])
    with pytest.raises(ModelError, match=r"cut\.safetensors is cut short: its header describes .* but the file "
                                         r"holds .*; copy or download it again"):
        store.import_model("base", cut, config=single_file["folder"])
    assert "base" not in store.lock()["models"] and not store.dir.joinpath("base").exists()


def test_a_checkpoint_of_another_architecture_than_its_config_is_refused_naming_the_widths(single_file, tmp_path):
    # The real manifest: without --config a checkpoint is read as SDXL base, which the tiny one is not.
    store = ModelStore(tmp_path / "models", SHIPPED_CONFIG.parent / "manifest.toml")
    with pytest.raises(ModelError, match=re.escape(f"does not match the config in {SHIPPED_CONFIG}: its UNet's first "
                                                   "block is 32 wide, the config's 320; import it with --config DIR")):
        store.import_model("base", single_file["file"])
    assert not store.dir.joinpath("sdxl-base").exists()
    unnamed = ModelStore(tmp_path / "other", plain_manifest(tmp_path / "plain.toml", single_file["folder"]))
    with pytest.raises(ModelError, match=r"needs a config folder \(--config DIR"):
        unnamed.import_model("base", single_file["file"])


def test_the_shipped_config_describes_sdxl_base(single_file):
    """Its parts have SDXL base 1.0's published sizes, its tokenizers CLIP's vocabulary, and
    a full-size SDXL written in the original layout is what diffusers calls SDXL base and
    what the import accepts with it (and refuses with the tiny model's config)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(SHIPPED_CONFIG, subfolder="unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SHIPPED_CONFIG, subfolder="vae"))
        clip_l = CLIPTextModel(CLIPTextConfig.from_pretrained(SHIPPED_CONFIG, subfolder="text_encoder"))
        clip_g = CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(SHIPPED_CONFIG, subfolder="text_encoder_2"))
    sizes = [sum(p.numel() for p in part.parameters()) for part in (unet, vae, clip_l, clip_g)]
    assert sizes[:2] == [2_567_463_684, 83_653_863] and sizes[2] + sizes[3] == 817_720_320
    for folder, pad in (("tokenizer", 49407), ("tokenizer_2", 0)):
        tokenizer = CLIPTokenizer.from_pretrained(SHIPPED_CONFIG, subfolder=folder)
        assert tokenizer("a photo of a cat", padding="max_length", max_length=9).input_ids == \
            [49406, 320, 1125, 539, 320, 2368, 49407, pad, pad]

    layout = original_layout.state_dict(unet, vae, clip_l, clip_g)
    assert infer_diffusers_model_type(layout) == "xl_base"
    header = {name: checkpoints.Tensor("F16", tuple(t.shape)) for name, t in layout.items()}
    checkpoints.check_layout(header, SHIPPED_CONFIG, "sd_xl_base_1.0.safetensors")
    with pytest.raises(checkpoints.CheckpointError, match="its UNet's first block is 320 wide, the config's 32"):
        checkpoints.check_layout(header, single_file["folder"], "sd_xl_base_1.0.safetensors")
