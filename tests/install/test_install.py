"""install.sh as a store runs it, into a temporary root folder (no real users, no
systemctl), and the systemd units as systemd itself judges them."""

import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from tests.live import free_port

pytestmark = pytest.mark.install

REPO = Path(__file__).resolve().parents[2]
UNITS = ["diamra-web.service", "diamra-worker.service", "diamra-backup.service", "diamra-backup.timer"]
ANALYZE = shutil.which("systemd-analyze")


def install(root: Path, *args: str, repo: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "install.sh"), "production", "--root", str(root), *args],
                          cwd=repo, capture_output=True, text=True, timeout=900, env=env)


def diamra(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(root / "opt/diamra/current/venv/bin/diamra"), "--data", str(root / "var/lib/diamra"),
                           *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DIAMRA_CONFIG": str(root / "etc/diamra/diamra.toml")})


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    password = root.parent / "password"
    password.write_text("a long staff password\n")
    result = install(root, "--store-name", "Maison Or", "--admin", "maria", "--admin-password-file", str(password))
    assert result.returncode == 0, result.stdout + result.stderr
    return root, result


def test_a_first_install_lays_out_program_data_settings_and_units(installed):
    root, result = installed
    current = root / "opt/diamra/current"
    assert current.is_symlink() and not os.readlink(current).startswith("/")      # valid under any root
    assert (current / "venv/bin/diamra").exists()
    generators = subprocess.run([str(current / "venv/bin/python"), "-c", "import torch, diffusers"],
                                capture_output=True, text=True)
    assert generators.returncode == 0, generators.stderr        # the default install carries SDXL
    assert 'store_name = "Maison Or"' in (root / "etc/diamra/diamra.toml").read_text()
    assert (root / "var/lib/diamra/diamra.db").exists()
    assert sorted(p.name for p in (root / "etc/systemd/system").iterdir()) == sorted(UNITS)
    assert diamra(root, "user", "list").stdout.split() == ["maria", "admin"]
    assert "Customer studio: http://" in result.stdout and ":8081/" in result.stdout


def test_running_it_again_upgrades_in_place_and_keeps_the_data(installed):
    root, _ = installed
    first = os.readlink(root / "opt/diamra/current")
    (root / "var/lib/diamra/images/kept.png").write_bytes(b"a customer's concept")
    result = install(root, "--without-sdxl")
    assert result.returncode == 0, result.stderr
    assert os.readlink(root / "opt/diamra/current") != first
    assert (root / "var/lib/diamra/images/kept.png").read_bytes() == b"a customer's concept"
    assert 'store_name = "Maison Or"' in (root / "etc/diamra/diamra.toml").read_text()
    assert diamra(root, "user", "list").stdout.split() == ["maria", "admin"]


def test_a_failed_upgrade_leaves_the_previous_version_running(installed, tmp_path):
    root, _ = installed
    before = os.readlink(root / "opt/diamra/current")
    broken = tmp_path / "broken"
    shutil.copytree(REPO, broken, ignore=shutil.ignore_patterns(".venv", "data", ".git", "__pycache__", ".pytest_cache"))
    pyproject = broken / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"numpy>=1.26",', '"numpy>=1.26",\n    "diamra-no-such-package==99",'))
    result = install(root, repo=broken)
    assert result.returncode != 0 and "previous version keeps running" in result.stderr
    assert os.readlink(root / "opt/diamra/current") == before
    assert diamra(root, "status").returncode in (0, 1)                     # the old release still runs


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is installed by ./install.sh test")
def test_every_unit_verifies_and_the_web_unit_scores_3_or_better(installed, capsys):
    root, _ = installed
    # verify --root needs systemd's own units inside the root to resolve dependencies.
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", dirs_exist_ok=True, symlinks=True)
    for unit in UNITS:
        check = subprocess.run([ANALYZE, "verify", "--man=no", f"--root={root}", f"/etc/systemd/system/{unit}"],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0 and check.stdout + check.stderr == "", (unit, check.stdout + check.stderr)
    kiosk = subprocess.run([ANALYZE, "verify", "--man=no", str(REPO / "systemd/diamra-kiosk.service")],
                           capture_output=True, text=True, timeout=60)
    assert kiosk.returncode == 0 and kiosk.stdout + kiosk.stderr == "", kiosk.stdout + kiosk.stderr
    scores = {}
    for unit in sorted(p.name for p in (REPO / "systemd").glob("*.service")):
        out = subprocess.run([ANALYZE, "security", "--offline=true", str(REPO / "systemd" / unit)],
                             capture_output=True, text=True, timeout=60).stdout
        scores[unit] = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", out).group(1))
    with capsys.disabled():
        print("\nsystemd-analyze security --offline=true:")
        for unit, score in scores.items():
            print(f"  {unit}: {score}")
    assert scores["diamra-web.service"] <= 3.0
    assert scores["diamra-worker.service"] <= 3.0 and scores["diamra-backup.service"] <= 3.0
    assert scores["diamra-gpu-worker.service"] <= 3.0


def test_the_worker_unit_uses_the_watchdog_and_only_the_gpu_devices():
    text = (REPO / "systemd/diamra-worker.service").read_text()
    assert "Type=notify" in text and re.search(r"WatchdogSec=\d+", text)
    assert "DevicePolicy=closed" in text and all(line.startswith("DeviceAllow=/dev/nvidia")
                                                 for line in text.splitlines() if line.startswith("DeviceAllow="))
    assert "PrivateNetwork=yes" in text and "UMask=0077" in text


def test_uninstall_keeps_the_data_unless_purged(installed, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(installed[0], root, symlinks=True)
    result = install(root, "--uninstall")
    assert result.returncode == 0 and not (root / "opt/diamra").exists()
    assert not list((root / "etc/systemd/system").glob("diamra-*"))
    assert (root / "var/lib/diamra/diamra.db").exists() and (root / "etc/diamra/diamra.toml").exists()
    assert install(root, "--uninstall", "--purge").returncode == 0
    assert not (root / "var/lib/diamra").exists() and not (root / "etc/diamra").exists()


def test_the_kiosk_install_adds_its_unit_and_a_chromium_policy_that_uninstall_removes(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    password = tmp_path / "password"
    password.write_text("a long staff password\n")
    result = install(root, "--without-sdxl", "--kiosk", "--store-name", "Maison Or", "--admin", "maria",
                     "--admin-password-file", str(password))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (root / "etc/systemd/system/diamra-kiosk.service").is_file()
    policy = root / "etc/chromium/policies/managed/diamra-kiosk.json"
    # Chromium offers one customer's typing to the next whatever autocomplete=off says.
    assert json.loads(policy.read_text()) == {"AutofillAddressEnabled": False, "AutofillCreditCardEnabled": False,
                                              "PasswordManagerEnabled": False, "BrowserSignin": 0,
                                              "SyncDisabled": True}
    assert policy.stat().st_mode & 0o777 == 0o644
    assert install(root, "--uninstall").returncode == 0
    assert not policy.exists() and not list((root / "etc/systemd/system").glob("diamra-*"))


def test_the_dev_install_works_from_a_copy_of_the_checkout(tmp_path):
    copy = tmp_path / "checkout"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", "data", ".git", "__pycache__", ".pytest_cache"))
    result = subprocess.run(["bash", "install.sh", "dev"], cwd=copy, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "DIAMRA_VENV": str(tmp_path / "venv")})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    check = subprocess.run([str(tmp_path / "venv/bin/diamra"), "--data", str(tmp_path / "data"), "init"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "Data folder ready" in check.stdout


# ---------------------------------------------------------------- several GPUs (dispatcher = "celery")

SHOP = "http://10.0.0.5:8081"
BROKER = "redis://:a-redis-password@10.0.0.5:6379/0"


def with_gpu(folder: Path, present: bool, once: Path | None = None) -> dict:
    """The environment of an install on a box with (or without) an NVIDIA GPU: a stand-in
    nvidia-smi first on PATH, so the answer does not depend on the box the tests run on.
    With `once`, the card answers only once that path exists."""
    folder.mkdir(parents=True, exist_ok=True)
    smi = folder / "nvidia-smi"
    found = "echo 'GPU 0: a stand-in card'"
    smi.write_text("#!/bin/sh\n" + (f"[ -e '{once}' ] && {found}\n" if once and present else
                                    f"{found}\n" if present else "exit 1\n"))
    smi.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def settings_of(root: Path) -> dict:
    return tomllib.loads((root / "etc/diamra/diamra.toml").read_text())


def lan_address() -> str:
    """The address install.sh gives Redis: the box's first IPv4 address, if it has one."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return next((a for a in out if re.fullmatch(r"\d+(\.\d+){3}", a)), "")


@pytest.fixture(scope="module")
def worker_box(tmp_path_factory):
    root = tmp_path_factory.mktemp("worker-root")
    token = "dmw_" + "t0ken" * 8
    token_file = root.parent / "gpu-2.token"
    token_file.write_text(token + "\n")
    result = install(root, "--gpu-worker", "--shop", SHOP, "--broker-url", BROKER, "--token-file", str(token_file),
                     env=with_gpu(root.parent / "no-gpu", present=False))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return root, result, token


def test_a_gpu_worker_box_gets_its_unit_settings_and_token_and_nothing_of_the_shop(worker_box):
    root, result, token = worker_box
    assert sorted(p.name for p in (root / "etc/systemd/system").iterdir()) == ["diamra-gpu-worker.service"]
    assert (root / "var/lib/diamra").is_dir() and not (root / "var/lib/diamra/diamra.db").exists()
    settings = settings_of(root)
    assert {k: settings[k] for k in ("dispatcher", "shop_url", "broker_url", "worker_token_file")} == {
        "dispatcher": "celery", "shop_url": SHOP, "broker_url": BROKER,
        "worker_token_file": "/etc/diamra/worker-token"}
    token_file = root / "etc/diamra/worker-token"
    assert token_file.stat().st_mode & 0o777 == 0o640 and token_file.read_text().strip() == token
    current = root / "opt/diamra/current"
    assert subprocess.run([str(current / "venv/bin/diamra"), "--help"], capture_output=True).returncode == 0
    extras = subprocess.run([str(current / "venv/bin/python"), "-c", "import celery, redis, torch, diffusers"],
                            capture_output=True, text=True)
    assert extras.returncode == 0, extras.stderr            # [sdxl,fleet]
    assert token not in result.stdout + result.stderr
    # No models yet: started, it would take the shop's jobs and draw sketches.
    assert "enabled but not started" in result.stdout and "models pull" in result.stdout
    assert "systemctl restart diamra-gpu-worker.service" not in result.stdout


def test_a_worker_box_upgrade_keeps_its_shop_broker_and_token(worker_box):
    root, _, token = worker_box
    before = os.readlink(root / "opt/diamra/current")
    (root / "etc/diamra/diamra.toml").write_text((root / "etc/diamra/diamra.toml").read_text() + 'sdxl_steps = 6\n')
    result = install(root, "--without-sdxl", env=with_gpu(root.parent / "no-gpu", present=False))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "upgrading it as one" in result.stdout and os.readlink(root / "opt/diamra/current") != before
    assert "systemctl restart diamra-gpu-worker.service" in result.stdout        # a sketch-only box: no models to wait for
    settings = settings_of(root)
    assert (settings["shop_url"], settings["broker_url"], settings["sdxl_steps"]) == (SHOP, BROKER, 6)
    assert (root / "etc/diamra/worker-token").read_text().strip() == token
    assert sorted(p.name for p in (root / "etc/systemd/system").iterdir()) == ["diamra-gpu-worker.service"]


@pytest.mark.parametrize("leave_out, says", [
    ("--shop", "A GPU worker box needs --shop URL"),
    ("--broker-url", "A GPU worker box needs --broker-url URL"),
    ("--token-file", "A GPU worker box needs --token-file FILE"),
    ("missing token", "Cannot read the worker token file"),
    ("empty token", "is empty"),
])
def test_a_worker_box_install_says_what_it_lacks_and_installs_nothing(tmp_path, leave_out, says):
    root = tmp_path / "root"
    root.mkdir()
    token_file = tmp_path / "gpu-2.token"
    token_file.write_text("" if leave_out == "empty token" else "dmw_a-token\n")
    if leave_out == "missing token":
        token_file = tmp_path / "no-such.token"
    given = {"--shop": SHOP, "--broker-url": BROKER, "--token-file": str(token_file)}
    args = [part for option, value in given.items() if option != leave_out for part in (option, value)]
    result = install(root, "--gpu-worker", *args)
    assert result.returncode != 0 and says in result.stderr, result.stderr
    assert not (root / "opt").exists() and not (root / "etc/diamra").exists()


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is installed by ./install.sh test")
def test_the_gpu_worker_unit_verifies(worker_box):
    root, _, _ = worker_box
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", dirs_exist_ok=True, symlinks=True)
    check = subprocess.run([ANALYZE, "verify", "--man=no", f"--root={root}",
                            "/etc/systemd/system/diamra-gpu-worker.service"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout + check.stderr == "", check.stdout + check.stderr


def test_the_gpu_worker_unit_reaches_only_the_lan_and_lets_the_job_finish_on_stop():
    lines = (REPO / "systemd/diamra-gpu-worker.service").read_text().splitlines()
    values = {}
    for line in lines:
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    assert values["Type"] == ["notify"] and values["NotifyAccess"] == ["main"]
    assert "WatchdogSec" not in values and "PrivateNetwork" not in values     # Celery does not pet a watchdog
    assert values["ExecStart"] == ["/opt/diamra/current/venv/bin/diamra worker --dispatcher celery"]
    assert values["IPAddressDeny"] == ["any"]
    assert sorted(" ".join(values["IPAddressAllow"]).split()) == sorted(
        ["localhost", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fe80::/10", "fc00::/7"])
    assert sorted(values["RestrictAddressFamilies"][0].split()) == ["AF_INET", "AF_INET6", "AF_UNIX"]
    assert values["KillSignal"] == ["SIGTERM"] and int(values["TimeoutStopSec"][0]) >= 300
    assert values["Restart"] == ["on-failure"] and values["DevicePolicy"] == ["closed"]
    assert all(device.startswith("/dev/nvidia") for device in values["DeviceAllow"])
    assert {"NoNewPrivileges", "ProtectSystem", "SystemCallFilter"} <= values.keys()


@pytest.fixture(scope="module")
def celery_shop(tmp_path_factory):
    # A shop box with SDXL whose stand-in card answers only once the release is current:
    # the release gets the CPU build of torch (not CUDA, which a test cannot install), and
    # the card then becomes one of the Celery workers.
    root = tmp_path_factory.mktemp("celery-root")
    password = root.parent / "password"
    password.write_text("a long staff password\n")
    result = install(root, "--dispatcher", "celery", "--store-name", "Maison Or",
                     "--admin", "maria", "--admin-password-file", str(password),
                     env=with_gpu(root.parent / "gpu", present=True, once=root / "opt/diamra/current"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return root, result


def redis_settings(root: Path) -> dict:
    lines = [line.split(None, 1) for line in (root / "etc/redis/diamra.conf").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {key: value for key, value in lines}


def test_a_celery_shop_gets_a_private_lasting_redis_and_settings_that_point_at_it(celery_shop):
    root, result = celery_shop
    password = (root / "etc/diamra/redis-password").read_text().strip()
    assert len(password) >= 32 and (root / "etc/diamra/redis-password").stat().st_mode & 0o777 == 0o640
    redis = redis_settings(root)
    lan = lan_address()
    assert redis["bind"].split() == ["127.0.0.1"] + ([f"-{lan}"] if lan else [])
    assert (redis["requirepass"], redis["protected-mode"], redis["appendonly"]) == (password, "yes", "yes")
    assert (root / "etc/redis/diamra.conf").stat().st_mode & 0o777 == 0o640
    assert (root / "etc/redis/redis.conf").read_text().splitlines().count("include /etc/redis/diamra.conf") == 1
    assert "network-online.target" in (root / "etc/systemd/system/redis-server.service.d/diamra.conf").read_text()
    settings = settings_of(root)
    assert settings["store_name"] == "Maison Or" and settings["dispatcher"] == "celery"
    assert settings["broker_url"] == f"redis://:{password}@127.0.0.1:6379/0"
    # The shop draws on its own card through Celery too, with a token of its own.
    units = sorted(p.name for p in (root / "etc/systemd/system").glob("diamra-*"))
    assert units == ["diamra-backup.service", "diamra-backup.timer", "diamra-gpu-worker.service", "diamra-web.service"]
    assert settings["worker_token_file"] == "/etc/diamra/worker-token" and settings["shop_url"] == "http://127.0.0.1:8081"
    assert (root / "etc/diamra/worker-token").stat().st_mode & 0o777 == 0o640
    assert diamra(root, "worker", "list").stdout.startswith("shop: never heard from")
    assert "apt-get install redis-server: skipped" in result.stdout
    assert "worker add" in result.stdout and f"--broker-url redis://:{password}@" in result.stdout
    with_celery = subprocess.run([str(root / "opt/diamra/current/venv/bin/python"), "-c", "import celery, redis"])
    assert with_celery.returncode == 0
    assert "NVIDIA GPU found" not in result.stdout                        # the CPU build, as intended


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is installed by ./install.sh test")
def test_redis_itself_reads_the_settings_and_asks_for_the_password(celery_shop, tmp_path):
    import redis as redis_client
    root, _ = celery_shop
    password = (root / "etc/diamra/redis-password").read_text().strip()
    port = free_port()
    # The store's file as written; only where it listens and keeps its files differ here.
    server = subprocess.Popen([shutil.which("redis-server"), str(root / "etc/redis/diamra.conf"), "--port", str(port),
                               "--bind", "127.0.0.1", "--dir", str(tmp_path), "--daemonize", "no",
                               "--logfile", str(tmp_path / "redis.log")])
    try:
        client = redis_client.Redis(port=port, password=password, socket_timeout=2, decode_responses=True)
        for _ in range(100):
            try:
                assert client.ping()
                break
            except redis_client.exceptions.ConnectionError:
                if server.poll() is not None:
                    pytest.fail("redis-server refused the settings: " + (tmp_path / "redis.log").read_text()[-2000:])
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not answer")
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        with pytest.raises(redis_client.exceptions.AuthenticationError):
            redis_client.Redis(port=port, socket_timeout=2).ping()
    finally:
        server.kill()
        server.wait(10)


def test_a_celery_shop_switches_back_to_claiming_itself_and_purge_removes_its_redis_settings(celery_shop, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(celery_shop[0], root, symlinks=True)
    assert (root / "etc/systemd/system/diamra-gpu-worker.service").exists()
    result = install(root, "--without-sdxl", "--dispatcher", "sqlite", env=with_gpu(tmp_path / "gpu", present=True))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert settings_of(root)["dispatcher"] == "sqlite"
    units = {p.name for p in (root / "etc/systemd/system").glob("diamra-*")}
    assert "diamra-worker.service" in units and "diamra-gpu-worker.service" not in units
    assert install(root, "--uninstall", "--purge").returncode == 0
    assert "include /etc/redis/diamra.conf" not in (root / "etc/redis/redis.conf").read_text()
    assert not (root / "etc/redis/diamra.conf").exists()
    assert not (root / "etc/systemd/system/redis-server.service.d").exists()


def test_a_celery_shop_upgrade_keeps_its_redis_password_and_its_workers(celery_shop):
    root, _ = celery_shop
    password = (root / "etc/diamra/redis-password").read_text()
    conf = (root / "etc/redis/diamra.conf").read_text()
    settings = settings_of(root)
    token = (root / "etc/diamra/worker-token").read_text()
    # --without-sdxl: the release is quick to install, and the box stops drawing itself.
    result = install(root, "--without-sdxl", env=with_gpu(root.parent / "gpu", present=True))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (root / "etc/diamra/redis-password").read_text() == password
    assert (root / "etc/redis/diamra.conf").read_text() == conf
    assert (root / "etc/redis/redis.conf").read_text().splitlines().count("include /etc/redis/diamra.conf") == 1
    assert settings_of(root) == settings and (root / "etc/diamra/worker-token").read_text() == token
    assert diamra(root, "worker", "list").stdout.count("shop:") == 1
    assert "systemctl restart redis-server.service" not in result.stdout        # nothing changed, no restart
    units = sorted(p.name for p in (root / "etc/systemd/system").glob("diamra-*"))
    assert units == ["diamra-backup.service", "diamra-backup.timer", "diamra-web.service"]
    assert "a sketch-only install" in result.stdout
