"""The model manager: what the manifest asks for, what is installed in the data folder,
and whether every file is the one it should be.

models/manifest.toml names the base model, the fp16-fixed VAE and the speed LoRA (source,
revision, files, licence, optional sha256 per file), and may name optional public style
LoRAs a store can pull. Installed files live in <data>/models/<folder>/;
<data>/models/lock.json records, per file, the sha256 measured when it was pulled or
imported, and the store's style LoRAs: each with its trigger words, weight, whether it
is on, where it came from, and which one (if any) is the default that customer rounds
are drawn with. Nothing here downloads at request time: only `diamra models pull`.

The base model is installed either as the manifest's diffusers folder (pulled or
imported; "format": "diffusers" in the lock) or as one single-file SDXL checkpoint
(imported; "format": "single_file"), kept in its folder as checkpoint.safetensors beside
config/, the diffusers config folder that describes its architecture (SDXL base's own,
shipped in models/, unless the import names another). Installing one kind removes every
file of the other.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import json
import os
import re
import shutil
import threading
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from appliance.ops import checkpoints
from appliance.ops import hub as model_hub
from appliance.ops.hub import readable_size, sha256_of  # noqa: F401 -- the manager's public names

REQUIRED_KINDS = ("base",)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# The generator's adapter name for the speed LoRA; a style may not take it.
SPEED_ADAPTER = "speed"
STYLE_SOURCES = ("imported", "trained")
# A single-file base model's files inside its folder.
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_CONFIG = "config"


_EDITING = threading.local()


def _serialised(method):
    """A change to the lock file, made under an exclusive file lock: the web app (a
    jeweler switching a style) and the worker (installing a trained one) are separate
    processes, and neither may write back a lock the other has just changed."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if getattr(_EDITING, "depth", 0):
            return method(self, *args, **kwargs)
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock.json.lk", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            _EDITING.depth = 1
            try:
                return method(self, *args, **kwargs)
            finally:
                _EDITING.depth = 0
                fcntl.flock(guard, fcntl.LOCK_UN)
    return wrapper


class ModelError(RuntimeError):
    """A manifest, install or verify problem; the message says what and where."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str                 # base | vae | speed_lora | style_lora
    repo: str
    revision: str
    licence: str
    folder: str
    files: dict[str, str]     # path -> sha256 ("" when the manifest pins none)
    options: dict = field(default_factory=dict)

    @property
    def optional(self) -> bool:
        """Installed only when asked for by name (`diamra models pull NAME`)."""
        return self.options.get("optional") is True


@dataclass(frozen=True)
class StyleLora:
    name: str
    file: str                 # relative to <data>/models
    trigger: str
    weight: float
    sha256: str
    enabled: bool = True      # loaded by the generator, ready to be the default
    default: bool = False     # the style customer rounds are drawn with
    source: str = "imported"  # imported | trained | manifest:<model name>


@dataclass(frozen=True)
class Checkpoint:
    """A base model installed as one single-file checkpoint: the file, and the diffusers
    config folder that describes its architecture."""
    file: Path
    config: Path


@dataclass
class FileCheck:
    model: str
    path: str
    status: str               # ok | missing | wrong | unpinned
    detail: str = ""


def load_manifest(path: Path) -> dict[str, ModelSpec]:
    """The manifest's models by name; ModelError names a bad entry."""
    if not path.exists():
        raise ModelError(f"No model manifest at {path}.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path}: {exc}") from exc
    models = {}
    for name, entry in (data.get("models") or {}).items():
        missing = [k for k in ("kind", "repo", "folder", "files", "licence") if k not in entry]
        if missing:
            raise ModelError(f"{path}: model {name!r} lacks {', '.join(missing)}.")
        files = {}
        for item in entry["files"]:
            if isinstance(item, str):
                files[item] = ""
            else:
                files[item["path"]] = item.get("sha256", "")
        options = {k: v for k, v in entry.items() if k not in ("kind", "repo", "revision", "licence", "folder", "files")}
        models[name] = ModelSpec(name, entry["kind"], entry["repo"], entry.get("revision", "main"),
                                 entry["licence"], entry["folder"], files, options)
        if entry["kind"] == "style_lora":
            _check_style_entry(path, models[name])
    if not any(m.kind == "base" for m in models.values()):
        raise ModelError(f"{path}: the manifest names no base model.")
    return models


def _check_style_entry(path: Path, spec: ModelSpec) -> None:
    """A public style LoRA is never installed or on by default, and its licence must let a
    store use its pictures commercially."""
    if not spec.optional:
        raise ModelError(f"{path}: style LoRA {spec.name!r} must say optional = true (a public style is "
                         "installed only when a store pulls it by name).")
    if spec.options.get("commercial_use") is not True:
        raise ModelError(f"{path}: style LoRA {spec.name!r} is licensed {spec.licence!r}, and does not say "
                         "commercial_use = true; a store may only draw with styles its licence lets it sell.")
    if len(spec.files) != 1 or not next(iter(spec.files)).endswith(".safetensors"):
        raise ModelError(f"{path}: style LoRA {spec.name!r} must have exactly one .safetensors file.")
    if not _NAME.match(spec.name) or spec.name == SPEED_ADAPTER:
        raise ModelError(f"{path}: style LoRA {spec.name!r} needs a name of 1-40 lower-case letters, digits, "
                         f"- or _ (and not {SPEED_ADAPTER!r}): it becomes the store's style name.")
    weight = spec.options.get("weight", 1.0)
    if not isinstance(weight, (int, float)) or not 0 < weight <= 2:
        raise ModelError(f"{path}: style LoRA {spec.name!r} has weight {weight!r}; it must be above 0 and at most 2.")


class ModelStore:
    """The installed models of one data folder."""

    def __init__(self, models_dir: Path, manifest_path: Path):
        self.dir = Path(models_dir)
        self.manifest_path = Path(manifest_path)

    @property
    def lock_path(self) -> Path:
        return self.dir / "lock.json"

    def manifest(self) -> dict[str, ModelSpec]:
        return load_manifest(self.manifest_path)

    def lock(self) -> dict:
        """The lock file's contents; a lock written before styles had a default gets one
        here: its single style, which was drawn with every round then (with several,
        none: the jeweler chooses)."""
        if not self.lock_path.exists():
            return {"models": {}, "styles": {}, "default_style": None}
        lock = json.loads(self.lock_path.read_text(encoding="utf-8"))
        if "default_style" not in lock:
            styles = lock.get("styles") or {}
            lock["default_style"] = next(iter(styles)) if len(styles) == 1 else None
        return lock

    def _save_lock(self, lock: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        partial = self.lock_path.with_suffix(".json.part")
        partial.write_text(json.dumps(lock, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.lock_path)

    def folder(self, spec: ModelSpec) -> Path:
        return self.dir / spec.folder

    def styles(self) -> list[StyleLora]:
        """The store's style LoRAs by name, each with its on/off state, whether it is the
        default, and where it came from."""
        lock = self.lock()
        return [_style(name, entry, lock) for name, entry in sorted(lock.get("styles", {}).items())]

    def active_style(self) -> StyleLora | None:
        """The style customer rounds are drawn with: the default when one is set and on,
        else None (the base model alone)."""
        return next((s for s in self.styles() if s.default and s.enabled), None)

    def _style_entry(self, lock: dict, name: str) -> dict:
        styles = lock.get("styles", {})
        if name not in styles:
            known = ", ".join(sorted(styles)) or "none is installed"
            raise ModelError(f"There is no style LoRA {name!r} ({known}).")
        return styles[name]

    @_serialised
    def set_style(self, name: str, *, enabled: bool | None = None, weight: float | None = None) -> StyleLora:
        """Switch a style on or off and/or change its weight; switching off the default
        style leaves customer rounds without a style until another is made the default."""
        lock = self.lock()
        entry = self._style_entry(lock, name)
        if weight is not None:
            _check_weight(weight)
            entry["weight"] = float(weight)
        if enabled is not None:
            entry["enabled"] = bool(enabled)
            if not enabled and lock.get("default_style") == name:
                lock["default_style"] = None
        self._save_lock(lock)
        return _style(name, entry, lock)

    @_serialised
    def set_default_style(self, name: str | None) -> StyleLora | None:
        """Make a style that is on the one customer rounds are drawn with (None: no style)."""
        lock = self.lock()
        if name is None:
            lock["default_style"] = None
            self._save_lock(lock)
            return None
        entry = self._style_entry(lock, name)
        if not entry.get("enabled", True):
            raise ModelError(f"The style LoRA {name!r} is off; switch it on before making it the default.")
        lock["default_style"] = name
        self._save_lock(lock)
        return _style(name, entry, lock)

    @_serialised
    def remove_style(self, name: str) -> None:
        """Uninstall a style: its entry leaves the lock first (so a generator never looks
        for the file), then its file is deleted."""
        lock = self.lock()
        entry = self._style_entry(lock, name)
        del lock["styles"][name]
        if lock.get("default_style") == name:
            lock["default_style"] = None
        self._save_lock(lock)
        (self.dir / entry["file"]).unlink(missing_ok=True)

    def verify(self) -> list[FileCheck]:
        """Every file of every model and style LoRA, checked against its pinned hash."""
        checks: list[FileCheck] = []
        lock = self.lock()
        for spec in self.manifest().values():
            if spec.optional and spec.name not in lock.get("models", {}):
                continue              # a public style the store has not pulled: nothing is missing
            entry = lock.get("models", {}).get(spec.name, {})
            recorded, renamed = entry.get("files", {}), entry.get("installed_as", {})
            if entry.get("format") == "single_file":
                # The manifest's files are not there: the checkpoint and its configs are,
                # checked against the hashes recorded when they were imported.
                checks += [_check_recorded(spec.name, rel, self.folder(spec) / rel, digest)
                           for rel, digest in recorded.items()]
                continue
            for rel, pinned in spec.files.items():
                # A folder imported without the fp16 variant files holds the plain ones,
                # checked against the hashes recorded when they were imported.
                installed = renamed.get(rel, rel)
                path = self.folder(spec) / installed
                expected = (pinned if installed == rel else "") or recorded.get(installed, "")
                if not path.exists():
                    checks.append(FileCheck(spec.name, rel, "missing", f"not installed at {path}"))
                elif not expected:
                    checks.append(FileCheck(spec.name, rel, "unpinned", "no sha256 in the manifest or lock; "
                                            "pull or import it to record one"))
                elif (actual := sha256_of(path)) != expected:
                    checks.append(FileCheck(spec.name, rel, "wrong", f"sha256 {actual[:12]}… expected {expected[:12]}…"))
                else:
                    checks.append(FileCheck(spec.name, rel, "ok"))
        for style in self.styles():
            path = self.dir / style.file
            if not path.exists():
                checks.append(FileCheck(f"style:{style.name}", style.file, "missing", f"not at {path}"))
            elif sha256_of(path) != style.sha256:
                checks.append(FileCheck(f"style:{style.name}", style.file, "wrong", "file changed since it was imported"))
            else:
                checks.append(FileCheck(f"style:{style.name}", style.file, "ok"))
        return checks

    def problems(self) -> list[FileCheck]:
        """The checks that are not ok (empty when every model is installed and intact)."""
        return [c for c in self.verify() if c.status != "ok"]

    @_serialised
    def _record(self, spec: ModelSpec, revision: str, source: str, installed_as: dict | None = None) -> None:
        lock = self.lock()
        files, installed_as = {}, dict(installed_as or {})
        for rel, pinned in spec.files.items():
            installed = installed_as.get(rel, rel)
            path = self.folder(spec) / installed
            digest = sha256_of(path)
            if pinned and installed == rel and digest != pinned:
                path.unlink()
                raise ModelError(f"{spec.name}: {rel} has sha256 {digest}, but the manifest pins {pinned}; "
                                 "the file was removed.")
            files[installed] = digest
        entry = {"repo": spec.repo, "revision": revision, "source": source, "format": "diffusers", "files": files,
                 "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        renamed = {rel: installed for rel, installed in installed_as.items() if rel != installed}
        if renamed:
            entry["installed_as"] = renamed
        lock.setdefault("models", {})[spec.name] = entry
        self._save_lock(lock)

    def import_model(self, name: str, source: Path, *, config: Path | None = None) -> ModelSpec:
        """Install a manifest model from a local folder (or a single file for one-file
        models), recording each file's hash. A diffusers folder saved without the fp16
        variant files the manifest names is installed with its plain weight files (the
        generator then loads them without the variant), and the lock records which. The
        base model may also come as one single-file SDXL checkpoint (.safetensors in the
        original layout), described by `config` (a diffusers config folder) or else by the
        manifest's `single_file_config` (SDXL base's configs, shipped in models/)."""
        manifest = self.manifest()
        if name not in manifest:
            raise ModelError(f"The manifest has no model {name!r} (it has {', '.join(manifest)}).")
        spec = manifest[name]
        source = Path(source)
        if source.is_file() and spec.kind == "base":
            return self._import_checkpoint(spec, source, config)
        if config is not None:
            raise ModelError(f"A config folder ({config}) is only for a single-file checkpoint of the base model; "
                             f"{source} is not one (a diffusers folder carries its own configs).")
        if source.is_file():
            if len(spec.files) != 1:
                raise ModelError(f"{name} has {len(spec.files)} files; import its folder, not one file.")
            sources = {next(iter(spec.files)): source}
        elif source.is_dir():
            sources, installed_as = _folder_sources(spec, source)
        else:
            raise ModelError(f"Nothing to import at {source}.")
        installed_as = installed_as if source.is_dir() else {}
        for rel, path in sources.items():
            target = self.folder(spec) / installed_as.get(rel, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            shutil.copyfile(path, partial)
            os.replace(partial, target)
            if installed_as.get(rel, rel) != rel:
                # An earlier import's variant file would make the generator load it instead.
                (self.folder(spec) / rel).unlink(missing_ok=True)
            else:
                stale = self.folder(spec) / plain_name(rel)
                if stale != target:
                    stale.unlink(missing_ok=True)
        self._record(spec, "imported", str(source), installed_as)
        self._remove_checkpoint(spec)
        return spec

    def checkpoint(self, spec: ModelSpec) -> Checkpoint | None:
        """The single-file checkpoint `spec` is installed as, or None when it is installed
        as a diffusers folder (or not at all)."""
        entry = self.lock().get("models", {}).get(spec.name, {})
        if entry.get("format") != "single_file":
            return None
        folder = self.folder(spec)
        return Checkpoint(folder / entry.get("checkpoint", CHECKPOINT), folder / CHECKPOINT_CONFIG)

    def _import_checkpoint(self, spec: ModelSpec, source: Path, config: Path | None) -> ModelSpec:
        """Install one single-file SDXL checkpoint as the base model, with the config folder
        that describes it; refused, naming what it is, unless it is an SDXL base checkpoint
        matching that config."""
        if config is None:
            shipped = spec.options.get("single_file_config")
            if not shipped:
                raise ModelError(f"{source} is a single file; importing it as {spec.name} needs a config folder "
                                 f"(--config DIR, the diffusers configs of its architecture): the manifest "
                                 f"{self.manifest_path} names none for {spec.name} (single_file_config).")
            config = self.manifest_path.parent / str(shipped)
        folder = self.folder(spec)
        try:
            files = checkpoints.install(source, Path(config), folder, CHECKPOINT, CHECKPOINT_CONFIG)
        except checkpoints.CheckpointError as exc:
            raise ModelError(str(exc)) from exc
        self._record_checkpoint(spec, source, Path(config), files)
        # Only now that the lock names the checkpoint: the diffusers files it replaces.
        for rel in spec.files:
            for name in {rel, plain_name(rel)}:
                (folder / name).unlink(missing_ok=True)
                for partial_download in (folder / name).parent.glob(f"{glob.escape(Path(name).name)}.*.part"):
                    partial_download.unlink()
        _remove_empty_folders(folder)
        return spec

    @_serialised
    def _record_checkpoint(self, spec: ModelSpec, source: Path, config: Path, files: dict[str, str]) -> None:
        lock = self.lock()
        # "repo" names what the base is; a single-file checkpoint is no hub repository, its file name says it.
        lock.setdefault("models", {})[spec.name] = {
            "repo": source.name, "revision": "imported", "source": str(source), "format": "single_file",
            "checkpoint": CHECKPOINT, "config": str(config), "files": files,
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self._save_lock(lock)

    def _remove_checkpoint(self, spec: ModelSpec) -> None:
        """A single-file checkpoint (and its configs) left in a folder the lock now records
        as a diffusers install."""
        folder = self.folder(spec)
        (folder / CHECKPOINT).unlink(missing_ok=True)
        shutil.rmtree(folder / CHECKPOINT_CONFIG, ignore_errors=True)

    def pull(self, name: str, *, endpoint: str | None = None, progress=None, planned=None) -> ModelSpec:
        """Download a manifest model from its hub repository at its revision (the store's
        machine has internet; this appliance never downloads at request time). The hub is
        asked for every file's size first, and nothing is fetched unless the disk holds it
        with 5% to spare; an interrupted file resumes where it stopped on the next pull; a
        file whose sha256 differs from the manifest's is removed, never installed. Every
        failure is a ModelError sentence. `planned(bytes_left)` is called once before the
        first byte, `progress(file, done_bytes, total_bytes)` as bytes arrive; `endpoint`
        replaces HF_ENDPOINT. A public style LoRA is then installed as one of the store's
        styles, off until the jeweler switches it on (a style pulled again keeps its on/off
        state)."""
        manifest = self.manifest()
        if name not in manifest:
            raise ModelError(f"The manifest has no model {name!r} (it has {', '.join(manifest)}).")
        spec = manifest[name]
        source = f"manifest:{name}"
        existing = next((s for s in self.styles() if s.name == name), None)
        if spec.kind == "style_lora" and existing is not None and existing.source != source:
            raise ModelError(f"The store already has its own style LoRA {name!r} ({existing.source}); "
                             "remove or rename it before pulling the public one.")
        try:
            model_hub.download(spec, self.folder(spec), endpoint=endpoint, progress=progress, planned=planned)
        except model_hub.HubError as exc:
            raise ModelError(str(exc)) from exc
        self._record(spec, spec.revision, f"hub:{spec.repo}")
        self._remove_checkpoint(spec)
        if spec.kind == "style_lora":
            self.import_style(name, self.folder(spec) / next(iter(spec.files)), str(spec.options.get("trigger", "")),
                              float(spec.options.get("weight", 1.0)),
                              enabled=existing.enabled if existing else False, source=source)
        return spec

    @_serialised
    def import_style(self, name: str, file: Path, trigger: str, weight: float, *, enabled: bool = True,
                     source: str = "imported") -> StyleLora:
        """Install (or replace) one of the store's style LoRAs (diffusers/peft or kohya
        safetensors). A style that is on becomes the default when there is none yet, so a
        store's first style is drawn with every round; a trained style arrives off, to be
        compared before and after first."""
        if not _NAME.match(name):
            raise ModelError("A style name is 1-40 lower-case letters, digits, - or _.")
        if name == SPEED_ADAPTER:
            raise ModelError(f"{SPEED_ADAPTER!r} is the speed LoRA's name; choose another style name.")
        if source not in STYLE_SOURCES and not source.startswith("manifest:"):
            raise ModelError(f"A style comes from {', '.join(STYLE_SOURCES)} or manifest:<model>, not {source!r}.")
        file = Path(file)
        if not file.is_file() or file.suffix != ".safetensors":
            raise ModelError(f"{file} is not a .safetensors file.")
        _check_weight(weight)
        rel = f"styles/{name}.safetensors"
        target = self.dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        shutil.copyfile(file, partial)
        os.replace(partial, target)
        lock = self.lock()
        lock.setdefault("styles", {})[name] = {"file": rel, "trigger": trigger.strip(), "weight": float(weight),
                                              "sha256": sha256_of(target), "enabled": enabled, "source": source}
        if enabled and not lock.get("default_style"):
            lock["default_style"] = name
        elif not enabled and lock.get("default_style") == name:
            lock["default_style"] = None
        self._save_lock(lock)
        return _style(name, lock["styles"][name], lock)


def plain_name(rel: str) -> str:
    """A variant file's plain name: unet/diffusion_pytorch_model.fp16.safetensors ->
    unet/diffusion_pytorch_model.safetensors."""
    return rel.replace(".fp16.", ".")


def _folder_sources(spec: ModelSpec, source: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Where each manifest file comes from in a diffusers folder, and the name it is
    installed under: the manifest's own (all its fp16 variant files are there), or else
    every weight file under its plain name (from the plain file, or the variant one)."""
    variants = [rel for rel in spec.files if ".fp16." in rel]
    if all((source / rel).exists() for rel in variants):
        sources = {rel: source / rel for rel in spec.files}
        absent = [rel for rel, path in sources.items() if not path.exists()]
        installed_as = {}
    else:
        sources, installed_as, absent = {}, {}, []
        for rel in spec.files:
            plain = plain_name(rel)
            found = next((source / name for name in (plain, rel) if (source / name).exists()), None)
            if found is None:
                absent.append(plain)
            else:
                sources[rel], installed_as[rel] = found, plain
    if absent:
        raise ModelError(f"{source} lacks {', '.join(absent[:5])}{' …' if len(absent) > 5 else ''}.")
    return sources, installed_as


def _check_recorded(model: str, rel: str, path: Path, digest: str) -> FileCheck:
    if not path.exists():
        return FileCheck(model, rel, "missing", f"not installed at {path}")
    if (actual := sha256_of(path)) != digest:
        return FileCheck(model, rel, "wrong", f"sha256 {actual[:12]}… expected {digest[:12]}…")
    return FileCheck(model, rel, "ok")


def _remove_empty_folders(folder: Path) -> None:
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(path.iterdir()):
            path.rmdir()


def _style(name: str, entry: dict, lock: dict) -> StyleLora:
    # Styles imported before they could be switched off were all on.
    return StyleLora(name, entry["file"], entry.get("trigger", ""), float(entry.get("weight", 1.0)), entry["sha256"],
                     enabled=bool(entry.get("enabled", True)), default=lock.get("default_style") == name,
                     source=entry.get("source", "imported"))


def _check_weight(weight: float) -> None:
    if not 0 < weight <= 2:
        raise ModelError("A style weight is between 0 and 2 (1 = as trained).")
