"""The model manager: what the manifest asks for, what is installed in the data folder,
and whether every file is the one it should be.

models/manifest.toml names the base model, the fp16-fixed VAE and the speed LoRA (source,
revision, files, licence, optional sha256 per file). Installed files live in
<data>/models/<folder>/; <data>/models/lock.json records, per file, the sha256 measured
when it was pulled or imported (and the store's own style LoRAs with their trigger
words and weights). Nothing here downloads at request time: only `diamra models pull`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REQUIRED_KINDS = ("base",)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class ModelError(RuntimeError):
    """A manifest, install or verify problem; the message says what and where."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str                 # base | vae | speed_lora
    repo: str
    revision: str
    licence: str
    folder: str
    files: dict[str, str]     # path -> sha256 ("" when the manifest pins none)
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StyleLora:
    name: str
    file: str                 # relative to <data>/models
    trigger: str
    weight: float
    sha256: str


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
    if not any(m.kind == "base" for m in models.values()):
        raise ModelError(f"{path}: the manifest names no base model.")
    return models


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        if not self.lock_path.exists():
            return {"models": {}, "styles": {}}
        return json.loads(self.lock_path.read_text(encoding="utf-8"))

    def _save_lock(self, lock: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        partial = self.lock_path.with_suffix(".json.part")
        partial.write_text(json.dumps(lock, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.lock_path)

    def folder(self, spec: ModelSpec) -> Path:
        return self.dir / spec.folder

    def styles(self) -> list[StyleLora]:
        """The store's own style LoRAs, as imported."""
        return [StyleLora(name, e["file"], e.get("trigger", ""), float(e.get("weight", 1.0)), e["sha256"])
                for name, e in sorted(self.lock().get("styles", {}).items())]

    def verify(self) -> list[FileCheck]:
        """Every file of every model and style LoRA, checked against its pinned hash."""
        checks: list[FileCheck] = []
        lock = self.lock()
        for spec in self.manifest().values():
            recorded = lock.get("models", {}).get(spec.name, {}).get("files", {})
            for rel, pinned in spec.files.items():
                path = self.folder(spec) / rel
                expected = pinned or recorded.get(rel, "")
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

    def _record(self, spec: ModelSpec, revision: str, source: str) -> None:
        lock = self.lock()
        files = {}
        for rel, pinned in spec.files.items():
            path = self.folder(spec) / rel
            digest = sha256_of(path)
            if pinned and digest != pinned:
                path.unlink()
                raise ModelError(f"{spec.name}: {rel} has sha256 {digest}, but the manifest pins {pinned}; "
                                 "the file was removed.")
            files[rel] = digest
        lock.setdefault("models", {})[spec.name] = {
            "repo": spec.repo, "revision": revision, "source": source, "files": files,
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self._save_lock(lock)

    def import_model(self, name: str, source: Path) -> ModelSpec:
        """Install a manifest model from a local folder (or a single file for one-file
        models), recording each file's hash."""
        manifest = self.manifest()
        if name not in manifest:
            raise ModelError(f"The manifest has no model {name!r} (it has {', '.join(manifest)}).")
        spec = manifest[name]
        source = Path(source)
        if source.is_file():
            if len(spec.files) != 1:
                raise ModelError(f"{name} has {len(spec.files)} files; import its folder, not one file.")
            sources = {next(iter(spec.files)): source}
        elif source.is_dir():
            sources = {rel: source / rel for rel in spec.files}
            absent = [rel for rel, path in sources.items() if not path.exists()]
            if absent:
                raise ModelError(f"{source} lacks {', '.join(absent[:5])}{' …' if len(absent) > 5 else ''}.")
        else:
            raise ModelError(f"Nothing to import at {source}.")
        for rel, path in sources.items():
            target = self.folder(spec) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            shutil.copyfile(path, partial)
            os.replace(partial, target)
        self._record(spec, "imported", str(source))
        return spec

    def pull(self, name: str) -> ModelSpec:
        """Download a manifest model from its hub repository at its revision (the store's
        machine has internet; this appliance never downloads at request time)."""
        spec = self.manifest()[name]
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as exc:
            raise ModelError("Pulling models needs the sdxl extras (huggingface_hub); "
                             "install them with ./install.sh or pip install 'diamra[sdxl]'.") from exc
        for rel in spec.files:
            try:
                hf_hub_download(spec.repo, rel, revision=spec.revision, local_dir=self.folder(spec))
            except Exception as exc:  # the hub's errors are many; say which file and why
                raise ModelError(f"Could not download {spec.repo}/{rel} at {spec.revision}: {exc}") from exc
        self._record(spec, spec.revision, f"hub:{spec.repo}")
        return spec

    def import_style(self, name: str, file: Path, trigger: str, weight: float) -> StyleLora:
        """Install one of the store's style LoRAs (diffusers/peft or kohya safetensors)."""
        if not _NAME.match(name):
            raise ModelError("A style name is 1-40 lower-case letters, digits, - or _.")
        file = Path(file)
        if not file.is_file() or file.suffix != ".safetensors":
            raise ModelError(f"{file} is not a .safetensors file.")
        if not 0 < weight <= 2:
            raise ModelError("A style weight is between 0 and 2 (1 = as trained).")
        rel = f"styles/{name}.safetensors"
        target = self.dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        lock = self.lock()
        lock.setdefault("styles", {})[name] = {"file": rel, "trigger": trigger.strip(), "weight": weight,
                                              "sha256": sha256_of(target)}
        self._save_lock(lock)
        return next(s for s in self.styles() if s.name == name)
