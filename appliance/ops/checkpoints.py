"""A single-file SDXL checkpoint, the format most fine-tuned SDXL models ship in: one
.safetensors file in Stability's original layout (the UNet under `model.diffusion_model.`,
the VAE under `first_stage_model.`, CLIP ViT-L under `conditioner.embedders.0.transformer.`,
OpenCLIP ViT-bigG under `conditioner.embedders.1.model.`), and the diffusers config folder
that describes its architecture, which diffusers needs to load it without asking the hub.

Everything here reads the file's safetensors header only (names, dtypes, shapes and
offsets; no tensor is loaded and nothing here imports torch): enough to refuse a file
that is not safetensors, is cut short, or is another kind of model, and to say which
kind it is. The model manager (appliance.ops.models) installs what passes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from appliance.ops.hub import readable_size, sha256_of

UNET = "model.diffusion_model."
VAE = "first_stage_model."
CLIP_L = "conditioner.embedders.0.transformer."
OPEN_CLIP_G = "conditioner.embedders.1.model."
PARTS = {UNET: "the UNet", VAE: "the VAE", CLIP_L: "the CLIP ViT-L text encoder",
         OPEN_CLIP_G: "the OpenCLIP ViT-bigG text encoder"}
# The files of a diffusers config folder that from_single_file reads for an SDXL pipeline;
# each tokenizer as vocab.json and merges.txt, or as the one tokenizer.json transformers 5 saves.
CONFIG_FILES = ("model_index.json", "scheduler/scheduler_config.json", "unet/config.json", "vae/config.json",
                "text_encoder/config.json", "text_encoder_2/config.json")
TOKENIZERS = ("tokenizer", "tokenizer_2")
_CONFIG_SUFFIXES = (".json", ".txt")
_MAX_HEADER = 100 * 1000 * 1000          # the safetensors format's own limit
# kohya (lora_unet_…), peft (….lora_A.…) and older diffusers (…_lora.down.…) adapter names.
_LORA = re.compile(r"(?:^|[._])lora[._]")


class CheckpointError(ValueError):
    """A file or config folder that cannot be installed as the base model; the message says why."""


@dataclass(frozen=True)
class Tensor:
    dtype: str
    shape: tuple[int, ...]


def read_header(path: Path) -> dict[str, Tensor]:
    """The tensors a safetensors file declares, by name. CheckpointError when the file is
    not safetensors, or is shorter than its header says (an interrupted copy)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise CheckpointError(f"{path} is not a .safetensors file: a single-file checkpoint is imported only as "
                              "safetensors (a .ckpt or .pt file is a pickle that can run code when it is loaded; "
                              "convert it to safetensors first).")
    size = path.stat().st_size
    with path.open("rb") as handle:
        length = int.from_bytes(handle.read(8), "little") if size >= 8 else 0
        if size < 8 or not 2 <= length <= _MAX_HEADER:
            raise CheckpointError(f"{path} is named .safetensors but is not a safetensors file "
                                  "(it does not start with a safetensors header).")
        if 8 + length > size:
            raise CheckpointError(f"{path} is cut short: it ends inside its own header ({readable_size(size)}); "
                                  "copy or download it again.")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
        tensors = {name: Tensor(str(entry["dtype"]), tuple(int(n) for n in entry["shape"]))
                   for name, entry in header.items() if name != "__metadata__"}
        end = max((int(entry["data_offsets"][1]) for name, entry in header.items() if name != "__metadata__"),
                  default=0)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise CheckpointError(f"{path} is named .safetensors but its header cannot be read ({exc}); "
                              "it is not a safetensors file.") from exc
    expected = 8 + length + end
    if size < expected:
        raise CheckpointError(f"{path} is cut short: its header describes {readable_size(expected)} but the file "
                              f"holds {readable_size(size)}; copy or download it again.")
    if size > expected:
        raise CheckpointError(f"{path} has {size - expected} bytes after its last tensor; it is not a valid "
                              "safetensors file (copy or download it again).")
    if not tensors:
        raise CheckpointError(f"{path} holds no tensors.")
    return tensors


def what_it_is(tensors: dict[str, Tensor]) -> str | None:
    """What a file that is not an SDXL base checkpoint holds, in a few words (None when it
    is one: the UNet, the VAE and both text encoders in the original layout)."""
    names = list(tensors)
    if any(_LORA.search(n) for n in names):
        return f"a LoRA ({len(names)} adapter tensors), not a whole model; import a style LoRA with --style NAME"
    if any(n.startswith("cond_stage_model.transformer.") for n in names):
        return "a Stable Diffusion 1.x checkpoint (one CLIP text encoder), not SDXL"
    if any(n.startswith("cond_stage_model.model.") for n in names):
        return "a Stable Diffusion 2.x checkpoint (one OpenCLIP text encoder), not SDXL"
    if any(n.startswith("conditioner.embedders.0.model.") for n in names) and \
            not any(n.startswith(OPEN_CLIP_G) for n in names):
        return "an SDXL refiner checkpoint, which finishes the base model's pictures but cannot draw one on its own"
    conv_in = tensors.get(UNET + "input_blocks.0.0.weight")
    if conv_in is not None and len(conv_in.shape) == 4 and conv_in.shape[1] == 9:
        return "an SDXL inpainting checkpoint (a UNet with 9 input channels), not a text-to-image base model"
    present = [prefix for prefix in PARTS if any(n.startswith(prefix) for n in names)]
    if len(present) == len(PARTS):
        return None
    if present:
        missing = [PARTS[prefix] for prefix in PARTS if prefix not in present]
        return (f"only {_listed([PARTS[p] for p in present])} of an SDXL checkpoint, without "
                f"{_listed(missing)}")
    if any(n.startswith(("down_blocks.", "mid_block.", "conv_in.")) for n in names):
        return "one diffusers component (a UNet or another model's weights), not a whole checkpoint; " \
               "import the diffusers folder it belongs to instead"
    if any(n.startswith(("encoder.", "decoder.")) for n in names):
        return "a VAE alone, not a whole checkpoint"
    return f"not a Stable Diffusion checkpoint (none of its {len(names)} tensors is named like one, e.g. {names[0]!r})"


def check_base(path: Path, config: Path) -> dict[str, Tensor]:
    """The tensors of `path` when it is an SDXL base checkpoint whose architecture matches
    the diffusers config folder `config`; otherwise CheckpointError, naming what was found."""
    tensors = read_header(Path(path))
    check_layout(tensors, Path(config), str(path))
    return tensors


def check_layout(tensors: dict[str, Tensor], config: Path, name: str) -> None:
    """CheckpointError (about the file called `name`) unless `tensors` are an SDXL base
    checkpoint's, as wide as the diffusers config folder `config` says."""
    found = what_it_is(tensors)
    if found is not None:
        raise CheckpointError(f"{name} is {found}; the base model must be a single-file SDXL base checkpoint.")
    check_config(config)
    for what, actual, expected in _widths(tensors, config):
        if actual is not None and actual != expected:
            raise CheckpointError(f"{name} does not match the config in {config}: its {what} is {actual} wide, "
                                  f"the config's {expected}; import it with --config DIR, a diffusers folder with "
                                  "the configs of the architecture it was trained as.")


def check_config(config: Path) -> None:
    """A diffusers config folder for an SDXL pipeline, or CheckpointError naming what it lacks."""
    config = Path(config)
    if not config.is_dir():
        raise CheckpointError(f"No config folder at {config}.")
    missing = [rel for rel in CONFIG_FILES if not (config / rel).is_file()]
    missing += [f"{folder}/vocab.json and merges.txt (or tokenizer.json)" for folder in TOKENIZERS
                if not (config / folder / "tokenizer.json").is_file()
                and not all((config / folder / name).is_file() for name in ("vocab.json", "merges.txt"))]
    if missing:
        raise CheckpointError(f"The config folder {config} lacks {', '.join(missing)}.")
    index = _json(config / "model_index.json")
    if index.get("_class_name") != "StableDiffusionXLPipeline":
        raise CheckpointError(f"{config / 'model_index.json'} describes {index.get('_class_name')!r}, not an SDXL "
                              "pipeline (StableDiffusionXLPipeline).")


def install(source: Path, config: Path, folder: Path, name: str, config_name: str) -> dict[str, str]:
    """Copy the checkpoint `source` to folder/name and the config folder's files to
    folder/config_name (each replacing the old one whole), after check_base; returns the
    sha256 of every installed file by its path in `folder`."""
    source, config, folder = Path(source), Path(config), Path(folder)
    check_base(source, config)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{name}.part"
    shutil.copyfile(source, partial)
    os.replace(partial, folder / name)
    staged = folder / f"{config_name}.part"
    shutil.rmtree(staged, ignore_errors=True)
    for rel in config_files(config):
        (staged / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config / rel, staged / rel)
    shutil.rmtree(folder / config_name, ignore_errors=True)
    os.replace(staged, folder / config_name)
    installed = [name] + [f"{config_name}/{rel}" for rel in config_files(folder / config_name)]
    return {rel: sha256_of(folder / rel) for rel in installed}


def config_files(config: Path) -> list[str]:
    """The files of a config folder that are installed with a checkpoint (its configs and
    tokenizer files, never weights), relative to it."""
    config = Path(config)
    return sorted(str(p.relative_to(config)) for p in config.rglob("*")
                  if p.is_file() and p.suffix in _CONFIG_SUFFIXES)


def _widths(tensors: dict[str, Tensor], config: Path):
    """(what, the checkpoint's width, the config's) for the widths a wrong config gets wrong."""
    unet, clip_l, clip_g = (_json(config / rel) for rel in ("unet/config.json", "text_encoder/config.json",
                                                             "text_encoder_2/config.json"))
    channels = unet.get("block_out_channels") or [None]
    yield "UNet's first block", _dim(tensors, UNET + "input_blocks.0.0.weight", 0), channels[0]
    context = next((t.shape[1] for n, t in tensors.items()
                    if n.startswith(UNET) and n.endswith("attn2.to_k.weight") and len(t.shape) == 2), None)
    yield "UNet's text context", context, unet.get("cross_attention_dim")
    yield "CLIP ViT-L text encoder", _dim(tensors, CLIP_L + "text_model.embeddings.position_embedding.weight", 1), \
        clip_l.get("hidden_size")
    yield "OpenCLIP ViT-bigG text encoder", _dim(tensors, OPEN_CLIP_G + "positional_embedding", 1), \
        clip_g.get("hidden_size")


def _dim(tensors: dict[str, Tensor], name: str, axis: int) -> int | None:
    tensor = tensors.get(name)
    return tensor.shape[axis] if tensor is not None and len(tensor.shape) > axis else None


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} cannot be read as JSON: {exc}") from exc


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
