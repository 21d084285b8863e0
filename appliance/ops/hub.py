"""Downloading a model's files from the Hugging Face hub, for `diamra models pull`.

huggingface_hub's own hf_hub_download deletes a half-downloaded file when it fails, so a
6.9 GB base model cut at 90% would start over; a pull keeps its partial file beside the
target (named after the hub's ETag, so a new revision never appends to an old one) and
asks for the rest with a Range request. The hub is asked for every file's size first and
nothing is fetched unless the disk holds it with 5% to spare; a file whose sha256 differs
from the manifest's is removed, never installed; every failure is a HubError sentence
that says what to do. The model manager (appliance.ops.models) records what arrived.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import re
import shutil
from pathlib import Path


class HubError(RuntimeError):
    """A download failed; the message says why and what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

def download(spec, folder: Path, *, endpoint: str | None = None, progress=None, planned=None) -> None:
    """Every file of a manifest model (appliance.ops.models.ModelSpec) into `folder`, as described above."""
    hub = _hub()
    folder = Path(folder)
    with _online(hub.constants):
        urls = {rel: hub.hf_hub_url(spec.repo, rel, revision=spec.revision, endpoint=endpoint) for rel in spec.files}
        remote = {rel: _hub_step(spec, rel, folder, lambda rel=rel: hub.get_hf_file_metadata(urls[rel]))
                  for rel in spec.files}
        wanted = {rel: meta for rel, meta in remote.items() if not _already_downloaded(folder / rel, meta)}
        left = sum(max((meta.size or 0) - _partial_size(folder / rel, meta), 0) for rel, meta in wanted.items())
        _check_free_space(spec, folder, left)
        if planned:
            planned(left)
        for rel, meta in wanted.items():
            _hub_step(spec, rel, folder, lambda rel=rel, meta=meta: _download(
                hub, spec, rel, urls[rel], meta, folder / rel, progress))


_SPARE = 0.05                 # free space kept beyond the download itself


def _hub():
    """huggingface_hub's pieces a pull uses (an import error names the extras to install)."""
    try:
        import httpx2
        from huggingface_hub import constants, errors
        from huggingface_hub.file_download import get_hf_file_metadata, hf_hub_url, http_get
        from huggingface_hub.utils import build_hf_headers
    except ImportError as exc:
        raise HubError("Pulling models needs the sdxl extras (huggingface_hub); "
                         "install them with ./install.sh or pip install 'diamra[sdxl]'.") from exc
    from types import SimpleNamespace
    return SimpleNamespace(httpx2=httpx2, constants=constants, errors=errors, hf_hub_url=hf_hub_url,
                           get_hf_file_metadata=get_hf_file_metadata, http_get=http_get,
                           build_hf_headers=build_hf_headers)


@contextlib.contextmanager
def _online(constants):
    # The SDXL generator sets HF_HUB_OFFLINE=1 so no request ever reaches the hub; a pull is
    # the one place that must, even in a process (or a shell) where that is set.
    was = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = was


def _partial_path(target: Path, meta) -> Path:
    tag = re.sub(r"[^0-9A-Za-z]", "", meta.etag or "")[:16] or "unknown"
    return target.with_name(f"{target.name}.{tag}.part")


def _partial_size(target: Path, meta) -> int:
    partial = _partial_path(target, meta)
    return partial.stat().st_size if partial.is_file() else 0


def _already_downloaded(target: Path, meta) -> bool:
    """The file at target is the one the hub serves: same size, and the hub's ETag (the
    sha256 of a large file, the git blob sha1 of a small one) matches its contents."""
    if not target.is_file() or meta.size is None or target.stat().st_size != meta.size:
        return False
    etag = (meta.etag or "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", etag):
        return sha256_of(target) == etag
    if re.fullmatch(r"[0-9a-f]{40}", etag):
        blob = hashlib.sha1(b"blob %d\0" % meta.size)
        blob.update(target.read_bytes())
        return blob.hexdigest() == etag
    return False


def _free_space(folder: Path) -> int:
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _check_free_space(spec, folder: Path, left: int) -> None:
    needed = int(left * (1 + _SPARE))
    free = _free_space(folder)
    if needed > free:
        raise HubError(f"{spec.name} needs {readable_size(needed)} free in {folder} ({readable_size(left)} still to "
                         f"download, with {_SPARE:.0%} to spare), but only {readable_size(free)} is free; "
                         "nothing was downloaded.")


def readable_size(count: int) -> str:
    """A byte count as a person reads it: 512 B, 12.3 KB, 6.9 GB (powers of 1000, as the hub shows)."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def _download(hub, spec, rel: str, url: str, meta, target: Path, progress) -> None:
    """One file into target: resumed from its partial file when there is one, checked
    against the manifest's sha256 before it takes the target's place."""
    from urllib.parse import urlsplit
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(target, meta)
    for stale in target.parent.glob(f"{glob.escape(target.name)}.*.part"):
        if stale != partial:
            stale.unlink()        # left by an older revision: its bytes are not this file's
    done = partial.stat().st_size if partial.is_file() else 0
    if meta.size is not None and done > meta.size:
        partial.unlink()
        done = 0
    headers = hub.build_hf_headers()
    if urlsplit(meta.location).netloc != urlsplit(url).netloc:
        headers.pop("authorization", None)   # a signed CDN address: the token stays with the hub
    if progress:
        progress(rel, done, meta.size)
    with partial.open("r+b" if done else "wb") as handle:
        handle.seek(done)
        hub.http_get(meta.location, handle, resume_size=done, headers=headers, expected_size=meta.size,
                     tqdm_class=_progress_bar(rel, progress))
    pinned = spec.files[rel]
    if pinned and (actual := sha256_of(partial)) != pinned:
        partial.unlink()
        raise HubError(f"{spec.name}: {rel} from {spec.repo} has sha256 {actual}, but the manifest pins {pinned}; "
                         "it was removed, not installed.")
    os.replace(partial, target)


def _progress_bar(rel: str, progress):
    """A stand-in for huggingface_hub's tqdm bar that prints nothing and tells `progress`."""
    class Bar:
        def __init__(self, *, total=None, initial=0, **_):
            self.total, self.done = total, initial

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, count):
            self.done += count
            if progress:
                progress(rel, self.done, self.total)
    return Bar


def _hub_step(spec, rel: str, folder: Path, step):
    """Run one request to the hub; its failure becomes a sentence that says what to do."""
    try:
        return step()
    except HubError:
        raise
    except Exception as exc:
        raise _hub_failure(spec, rel, folder, exc) from exc


def _hub_failure(spec, rel: str, folder: Path, exc: Exception) -> HubError:
    hub = _hub()
    errors, httpx2 = hub.errors, hub.httpx2
    chain, seen = [], exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    def found(*kinds):
        return any(isinstance(e, kinds) for e in chain)
    status = next((getattr(getattr(e, "response", None), "status_code", None) for e in chain
                   if isinstance(e, errors.HfHubHTTPError)), None)
    where = f"{spec.repo}/{rel}"
    if found(errors.GatedRepoError) or status in (401, 403):
        return HubError(f"{spec.repo} needs an account that accepted its licence ({spec.licence}): accept it on the "
                          "repository's page, log in with `hf auth login` on this machine, then pull again.")
    if found(errors.RevisionNotFoundError):
        return HubError(f"{spec.repo} has no revision {spec.revision}: check the revision of {spec.name} "
                          "in the manifest.")
    if found(errors.EntryNotFoundError):
        return HubError(f"{spec.repo} has no file {rel} at revision {spec.revision}: check the files of "
                          f"{spec.name} in the manifest.")
    if found(errors.RepositoryNotFoundError) or status == 404:
        return HubError(f"The repository {spec.repo} was not found (or is private): check the repo of {spec.name} "
                          "in the manifest, or log in with `hf auth login` if it is private.")
    if found(errors.OfflineModeIsEnabled, httpx2.ConnectError, httpx2.TimeoutException, ConnectionRefusedError):
        return HubError(f"Could not reach the model hub (no network?) to download {where}: {exc}")
    if any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in chain):
        return HubError(f"The disk filled up while downloading {where} into {folder}; free some space and pull "
                          "again (it resumes where it stopped).")
    if status is not None and status >= 500:
        return HubError(f"The model hub failed to serve {where} (HTTP {status}); try again later: a pull resumes "
                          "where it stopped.")
    if found(httpx2.TransportError):
        return HubError(f"The connection to the model hub broke while downloading {where}; pull again to resume "
                          f"where it stopped ({exc}).")
    return HubError(f"Could not download {where} at {spec.revision}: {exc}")
