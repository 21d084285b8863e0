"""Fixtures for the SDXL tests: the tiny model built once per run, installed into a data
folder through the model manager, and LoRAs the tests make themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the sdxl extras are installed by ./install.sh test")

from tests.pipelines import tiny_sdxl  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> dict:
    """Folders of a tiny SDXL (base and a separate VAE) as a store would download them."""
    root = tmp_path_factory.mktemp("tiny-sdxl")
    base = tiny_sdxl.build(root / "base")
    vae = tiny_sdxl.build_vae(root / "vae")
    return {"base": base, "vae": vae, "root": root}


def write_manifest(path: Path, tiny: dict, with_vae: bool = True) -> Path:
    """A manifest naming the tiny model's files (the real one names SDXL's)."""
    def files(folder: Path) -> str:
        names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        return "[" + ", ".join(json.dumps(n) for n in names) + "]"
    text = (f'[models.base]\nkind = "base"\nrepo = "tests/tiny-sdxl"\nlicence = "test"\nfolder = "tiny-base"\n'
            f'files = {files(tiny["base"])}\n')
    if with_vae:
        text += (f'\n[models.vae]\nkind = "vae"\nrepo = "tests/tiny-vae"\nlicence = "test"\nfolder = "tiny-vae"\n'
                 f'files = {files(tiny["vae"])}\n')
    path.write_text(text)
    return path


@pytest.fixture
def sdxl_settings(tmp_path, tiny_model):
    """Settings for a data folder with the tiny SDXL installed through `models import`."""
    from appliance.config import load_settings
    from appliance.ops.models import ModelStore
    manifest = write_manifest(tmp_path / "manifest.toml", tiny_model)
    settings = load_settings(tmp_path / "data", generator="sdxl", device="cpu", manifest=str(manifest),
                             image_size=64, sdxl_steps=4)
    models = ModelStore(settings.models_dir, manifest)
    models.import_model("base", tiny_model["base"])
    models.import_model("vae", tiny_model["vae"])
    return settings


def add_speed_lora(manifest: Path) -> Path:
    """The manifest with a three-step speed LoRA named in it (its file is imported by the test)."""
    manifest.write_text(manifest.read_text() + '\n[models.speed]\nkind = "speed_lora"\nrepo = "tests/speed"\n'
                        'licence = "test"\nfolder = "tiny-speed"\nfiles = ["style.safetensors"]\nsteps = 3\n'
                        'guidance = 0.0\nweight = 1.0\n')
    return manifest


def make_lora(folder: Path, unet, rank: int = 4, seed: int = 3, kohya: bool = False) -> Path:
    """A LoRA for the tiny UNet with random (non-zero) weights, saved as diffusers/peft
    safetensors or with kohya-style key names."""
    import torch
    from diffusers import StableDiffusionXLPipeline
    from peft import LoraConfig, get_peft_model_state_dict
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                        target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    unet.add_adapter(config, adapter_name="made")
    state = get_peft_model_state_dict(unet, adapter_name="made")
    unet.delete_adapters("made")
    folder.mkdir(parents=True, exist_ok=True)
    if not kohya:
        StableDiffusionXLPipeline.save_lora_weights(folder, unet_lora_layers=state, weight_name="style.safetensors")
        return folder / "style.safetensors"
    converted = {}
    for key, value in state.items():
        module, _, kind = key.rpartition(".lora_")
        name = "lora_unet_" + module.replace(".", "_")
        suffix = "lora_down.weight" if kind.startswith("A") else "lora_up.weight"
        converted[f"{name}.{suffix}"] = value.contiguous()
        converted[f"{name}.alpha"] = torch.tensor(float(rank))
    save_file(converted, folder / "kohya_style.safetensors")
    return folder / "kohya_style.safetensors"
