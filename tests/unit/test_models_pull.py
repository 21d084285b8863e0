"""`diamra models pull` against a local stand-in of the Hugging Face hub: a real HTTP server
on a loopback port that answers `/{repo}/resolve/{revision}/{path}` with the headers
huggingface_hub reads, and can misbehave (missing repo, gated repo, missing revision,
wrong bytes, a connection cut halfway, a file too big for the disk, a disk that fills up
during the download). Nothing here reaches the internet."""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appliance import cli
from appliance.ops.models import ModelError, ModelStore
from tests.unit.test_model_styles import PUBLIC_STYLE

pytest.importorskip("huggingface_hub")

COMMIT = "0123456789abcdef0123456789abcdef01234567"
UNET = bytes(range(256)) * 24          # 6 KB, so a cut halfway leaves a real partial file
INDEX = b'{"_class_name": "StableDiffusionXLPipeline"}'
STYLE = b"style lora weights" * 100


class Hub:
    """What the stand-in serves, what it was asked, and how it misbehaves."""

    def __init__(self):
        self.files: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []   # (method, path, Range header)
        self.refuse: dict[str, int] = {}        # repo -> 404 (missing) or 401 (gated)
        self.claimed_size: int | None = None    # a size to claim instead of the real one
        self.cut_next_get: str | None = None    # a file whose next GET stops halfway, the connection dropped
        self.cut_every_get: set[str] = set()    # files whose every GET stops there (a line that keeps dropping)
        self.revisions: set[str] | None = None  # the revisions the hub has (None: whichever is asked for)
        self.fail_gets: dict[str, int] = {}     # file -> how many of its GETs after the cut answer 500

    def gets(self, with_range: bool | None = None) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == "GET" and (with_range is None or bool(r[2]) == with_range)]


RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")


def handler_for(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            """Quiet: the test reads the requests it recorded, not a log."""

        def do_HEAD(self):
            self.answer(body=False)

        def do_GET(self):
            self.answer(body=True)

        def refuse_with(self, status: int, code: str):
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def answer(self, body: bool):
            hub.requests.append((self.command, self.path, self.headers.get("Range")))
            match = RESOLVE.match(self.path)
            if not match:
                return self.refuse_with(404, "RepoNotFound")
            repo, path = match["repo"], match["path"]
            if hub.refuse.get(repo) == 404:
                return self.refuse_with(404, "RepoNotFound")
            if hub.refuse.get(repo) == 401:
                return self.refuse_with(401, "GatedRepo")
            if hub.revisions is not None and match["revision"] not in hub.revisions:
                return self.refuse_with(404, "RevisionNotFound")
            if (repo, path) not in hub.files:
                return self.refuse_with(404, "EntryNotFound")
            content = hub.files[(repo, path)]
            size = hub.claimed_size or len(content)
            if body and hub.fail_gets.get(path) and hub.cut_next_get != path:   # after the cut
                hub.fail_gets[path] -= 1
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            asked = self.headers.get("Range")
            if body and asked:
                start = int(re.match(r"bytes=(\d+)-", asked)[1])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            else:
                self.send_response(200)
            etag = hashlib.sha256(content).hexdigest()
            self.send_header("ETag", f'"{etag}"')
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(size))
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            if not body:
                return
            if hub.cut_next_get == path or path in hub.cut_every_get:
                hub.cut_next_get = None
                self.wfile.write(content[start:len(content) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(content[start:])
    return Handler


@pytest.fixture
def hub():
    """A running stand-in hub; yields (Hub, its endpoint address)."""
    state = Hub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def write_manifest(folder: Path) -> Path:
    """A base model of two files (both pinned) and an optional public style LoRA."""
    path = folder / "manifest.toml"
    path.write_text(f'''[models.base]
kind = "base"
repo = "tests/tiny-sdxl"
revision = "{COMMIT}"
licence = "CreativeML Open RAIL++-M"
folder = "base"
files = [{{path = "model_index.json", sha256 = "{sha(INDEX)}"}},
         {{path = "unet/diffusion_pytorch_model.safetensors", sha256 = "{sha(UNET)}"}}]
''' + PUBLIC_STYLE)
    return path


@pytest.fixture
def models(tmp_path, hub) -> ModelStore:
    state, _ = hub
    state.files[("tests/tiny-sdxl", "model_index.json")] = INDEX
    state.files[("tests/tiny-sdxl", "unet/diffusion_pytorch_model.safetensors")] = UNET
    state.files[("someone/etched-style", "etched.safetensors")] = STYLE
    return ModelStore(tmp_path / "data" / "models", write_manifest(tmp_path))


UNET_PATH = "unet/diffusion_pytorch_model.safetensors"


def test_pull_installs_every_file_verified_and_locks_revision_and_hashes(models, hub):
    _, endpoint = hub
    seen = []
    models.pull("base", endpoint=endpoint, progress=lambda f, done, total: seen.append((f, done, total)))
    assert [c.status for c in models.verify()] == ["ok", "ok"]
    entry = models.lock()["models"]["base"]
    assert entry["revision"] == COMMIT and entry["source"] == "hub:tests/tiny-sdxl"
    assert entry["files"] == {"model_index.json": sha(INDEX), UNET_PATH: sha(UNET)}
    assert (UNET_PATH, len(UNET), len(UNET)) in seen
    assert not list(models.dir.rglob("*.part"))


def test_pull_again_downloads_nothing_already_installed(models, hub):
    state, endpoint = hub
    models.pull("base", endpoint=endpoint)
    state.requests.clear()
    left = []
    models.pull("base", endpoint=endpoint, planned=left.append)
    assert left == [0] and state.gets() == []


def test_interrupted_download_resumes_with_a_range_request_on_the_next_pull(models, hub, monkeypatch):
    state, endpoint = hub
    # huggingface_hub writes what it reads in chunks of 10 MB; smaller ones let a few KB stand
    # for the gigabytes a real cut would leave behind.
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 1024)
    state.cut_next_get = UNET_PATH
    state.fail_gets[UNET_PATH] = 1    # huggingface_hub retries at once, in place; the hub fails that too
    with pytest.raises(ModelError, match="HTTP 500.*a pull resumes where it stopped"):
        models.pull("base", endpoint=endpoint)
    partial = next(models.dir.rglob("*.part"))
    kept = partial.stat().st_size
    assert 0 < kept < len(UNET)
    assert "base" not in models.lock()["models"]
    state.requests.clear()
    models.pull("base", endpoint=endpoint)
    assert state.gets(with_range=True) == [("GET", f"/tests/tiny-sdxl/resolve/{COMMIT}/{UNET_PATH}",
                                            f"bytes={kept}-")]
    assert [c.status for c in models.verify()] == ["ok", "ok"]
    assert not partial.exists()


def test_file_with_other_bytes_than_the_manifest_pins_is_refused_and_not_left_behind(models, hub):
    state, endpoint = hub
    state.files[("tests/tiny-sdxl", UNET_PATH)] = b"not the unet" * 100
    with pytest.raises(ModelError, match=re.escape(UNET_PATH)) as refused:
        models.pull("base", endpoint=endpoint)
    assert "manifest pins" in str(refused.value)
    assert not (models.dir / "base" / UNET_PATH).exists()
    assert not list(models.dir.rglob("*.part"))
    assert "base" not in models.lock()["models"]


def test_missing_repository_is_named(models, hub):
    state, endpoint = hub
    state.refuse["tests/tiny-sdxl"] = 404
    with pytest.raises(ModelError, match=r"^The repository tests/tiny-sdxl was not found \(or is private\)"):
        models.pull("base", endpoint=endpoint)


def test_gated_repository_says_to_accept_the_licence_and_log_in(models, hub):
    state, endpoint = hub
    state.refuse["tests/tiny-sdxl"] = 401
    with pytest.raises(ModelError, match=r"^tests/tiny-sdxl needs an account that accepted its licence.*hf auth login"):
        models.pull("base", endpoint=endpoint)


def test_missing_file_is_named_with_its_revision(models, hub):
    state, endpoint = hub
    del state.files[("tests/tiny-sdxl", UNET_PATH)]
    with pytest.raises(ModelError, match=f"^tests/tiny-sdxl has no file {UNET_PATH} at revision {COMMIT}"):
        models.pull("base", endpoint=endpoint)


def test_too_little_disk_space_stops_before_any_download(models, hub):
    state, endpoint = hub
    state.claimed_size = 10 ** 15                # a petabyte no test machine has
    with pytest.raises(ModelError, match=r"needs .* free in .* but only .* is free; nothing was downloaded"):
        models.pull("base", endpoint=endpoint)
    assert state.requests and state.gets() == []
    assert not (models.dir / "base").exists()


def test_unreachable_hub_says_no_network(models):
    with socket.socket() as probe:               # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ModelError, match=r"^Could not reach the model hub \(no network\?\)"):
        models.pull("base", endpoint=f"http://127.0.0.1:{port}")


def test_pull_works_in_a_process_the_generator_set_offline(models, hub, monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    models.pull("base", endpoint=hub[1])
    assert [c.status for c in models.verify()] == ["ok", "ok"]
    assert constants.HF_HUB_OFFLINE is True


def test_pulled_public_style_is_installed_off(models, hub):
    models.pull("etched", endpoint=hub[1])
    style = next(s for s in models.styles() if s.name == "etched")
    assert (style.enabled, style.source, style.weight) == (False, "manifest:etched", 0.8)
    assert (models.dir / style.file).read_bytes() == STYLE


def test_cli_pull_prints_the_licence_and_progress(models, hub, monkeypatch, capsys):
    state, endpoint = hub
    pull = ModelStore.pull
    monkeypatch.setattr(ModelStore, "pull", lambda self, name, **kw: pull(self, name, endpoint=endpoint, **kw))
    monkeypatch.setattr(cli, "_model_store", lambda settings: models)
    monkeypatch.setattr(cli, "_settings", lambda args: None)
    args = cli.parser().parse_args(["models", "pull", "base"])
    assert cli.cmd_models(args) == 0
    out = capsys.readouterr().out
    assert "base: licence CreativeML Open RAIL++-M — downloading 6.2 KB into" in out
    assert f"  {UNET_PATH}: 6.1 KB of 6.1 KB done" in out
    state.refuse["tests/tiny-sdxl"] = 401
    (models.dir / "base" / UNET_PATH).unlink()
    assert cli.cmd_models(args) == 2
    assert "Models: tests/tiny-sdxl needs an account" in capsys.readouterr().err


def test_revision_the_hub_does_not_have_is_named_and_nothing_is_downloaded(models, hub):
    state, endpoint = hub
    state.revisions = {"fedcba9876543210fedcba9876543210fedcba98"}
    with pytest.raises(ModelError, match=f"^tests/tiny-sdxl has no revision {COMMIT}: check the revision of base "
                                         "in the manifest"):
        models.pull("base", endpoint=endpoint)
    assert state.gets() == [] and not (models.dir / "base").exists()
    assert "base" not in models.lock()["models"]


def test_broken_connection_is_named_and_the_next_pull_resumes_from_what_arrived(models, hub, monkeypatch):
    state, endpoint = hub
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 1024)      # as in the resume test above
    # The line drops halfway through the file and on each of huggingface_hub's five retries in place (a second each).
    state.cut_every_get.add(UNET_PATH)
    with pytest.raises(ModelError, match=f"^The connection to the model hub broke while downloading "
                                         f"tests/tiny-sdxl/{UNET_PATH}; pull again to resume where it stopped"):
        models.pull("base", endpoint=endpoint)
    assert len(state.gets()) > 2            # it did retry before giving up
    partial = next(models.dir.rglob("*.part"))
    assert partial.stat().st_size == len(UNET) // 2
    assert not (models.dir / "base" / UNET_PATH).exists() and "base" not in models.lock()["models"]
    state.cut_every_get.clear()
    state.requests.clear()
    models.pull("base", endpoint=endpoint)
    assert state.gets(with_range=True) == [("GET", f"/tests/tiny-sdxl/resolve/{COMMIT}/{UNET_PATH}",
                                            f"bytes={len(UNET) // 2}-")]
    assert [c.status for c in models.verify()] == ["ok", "ok"]


# Run in a child process whose data folder is a 64 KB tmpfs of its own: another writer fills
# that disk as soon as the UNet's download begins, the pull fails, the writer's file is
# deleted and the pull runs again.
FULL_DISK_PULL = """
import json, os, shutil, sys
from pathlib import Path
sys.path.insert(0, os.environ["ROOT"])
from appliance.ops.models import ModelError, ModelStore

disk = Path(os.environ["DISK"])
store = ModelStore(disk / "models", Path(os.environ["MANIFEST"]))
filler = disk / "someone-elses-file"

def progress(rel, done, total):
    if rel.startswith("unet/") and not filler.exists():
        filler.write_bytes(b"x" * (shutil.disk_usage(disk).free - 4096))    # one page left

report = {}
try:
    store.pull("base", endpoint=os.environ["ENDPOINT"], progress=progress)
except ModelError as exc:
    report["error"] = str(exc)
report["left"] = {str(p.relative_to(disk)): p.stat().st_size for p in disk.rglob("*") if p.is_file()}
report["lock"] = sorted(store.lock()["models"])
filler.unlink()
store.pull("base", endpoint=os.environ["ENDPOINT"])
report["verified"] = [check.status for check in store.verify()]
print(json.dumps(report))
"""


def test_disk_that_fills_up_mid_download_is_named_and_the_next_pull_resumes(models, hub, tmp_path):
    state, endpoint = hub
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
             'mount -t tmpfs -o size=64k diamra-test "$DISK" && exec "$@"', "sh"]
    probe = subprocess.run(mount + ["true"], env={**os.environ, "DISK": str(disk)}, capture_output=True, text=True) \
        if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no small filesystem of its own can be mounted here (unshare --user --mount): "
                    + (probe.stderr.strip() if probe else "unshare is not installed"))
    env = {**os.environ, "DISK": str(disk), "ROOT": str(Path(__file__).resolve().parents[2]),
           "MANIFEST": str(models.manifest_path), "ENDPOINT": endpoint}
    child = subprocess.run(mount + [sys.executable, "-c", FULL_DISK_PULL], env=env, capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert re.match(rf"^The disk filled up while downloading tests/tiny-sdxl/{UNET_PATH} into {disk}/models/base; "
                    r"free some space and pull again \(it resumes where it stopped\)\.$", report["error"])
    partial = [size for name, size in report["left"].items() if name.startswith("models/base/unet/")]
    assert len(partial) == 1 and 0 < partial[0] < len(UNET)      # what fitted is kept, as a .part file
    assert f"models/base/{UNET_PATH}" not in report["left"] and report["lock"] == []
    assert report["verified"] == ["ok", "ok"]
    assert [r[2] for r in state.gets(with_range=True)] == [f"bytes={partial[0]}-"]
