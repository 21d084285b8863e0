"""install.sh as a store runs it, into a temporary root folder (no real users, no
systemctl), and the systemd units as systemd itself judges them."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.install

REPO = Path(__file__).resolve().parents[2]
UNITS = ["diamra-web.service", "diamra-worker.service", "diamra-backup.service", "diamra-backup.timer"]
ANALYZE = shutil.which("systemd-analyze")


def install(root: Path, *args: str, repo: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "install.sh"), "production", "--root", str(root), *args],
                          cwd=repo, capture_output=True, text=True, timeout=900)


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
