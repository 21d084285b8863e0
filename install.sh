#!/usr/bin/env bash
# Diamra installer.
#   ./install.sh run    install into ./.venv and start the appliance (sketch renderer, ./data)
#   ./install.sh test   install with the test tools (and Debian's chromium) and run every test
#   ./install.sh dev    install into ./.venv only
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-run}"
shift || true
PYTHON="${PYTHON:-python3}"
VENV="${DIAMRA_VENV:-.venv}"

say() { printf '==> %s\n' "$*"; }

need_python() {
  "$PYTHON" - <<'PY' || { echo "Diamra needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))." >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
}

make_venv() {
  need_python
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
}

install_torch() {
  # The SDXL generator needs torch. The version is pinned (DIAMRA_TORCH_VERSION to
  # change it) so pip never resolves a different, multi-gigabyte build on its own; the
  # production installer will choose the CUDA build for a store's GPU box.
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    say "installing torch (CPU build)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "torch==${DIAMRA_TORCH_VERSION:-2.13.0}"
  fi
}

install_app() {
  # A regular (not editable) install: pip rebuilds a local folder every time, so a
  # re-run always installs the code in this checkout. `dev` passes -e.
  local extra="${1:-}" editable="${2:-}"
  say "installing diamra${extra:+ with [$extra]}"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $editable ".${extra:+[$extra]}"
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "Installing system packages needs root: run '$*' as root, then run this again." >&2; exit 1; fi
}

install_browser() {
  # Browser tests drive Debian's chromium through Playwright (Playwright's own browser
  # download is not used). Fonts give the sketches and pages real type.
  if ! command -v chromium >/dev/null || [ ! -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
    say "installing chromium and fonts (apt-get)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  fi
}

case "$mode" in
  run)
    make_venv
    install_app
    say "starting Diamra (Ctrl-C stops it)"
    exec "$VENV/bin/diamra" serve --generator sketch "$@"
    ;;
  dev)
    make_venv
    install_torch
    install_app test,sdxl -e
    say "installed; start with: $VENV/bin/diamra serve"
    ;;
  test)
    make_venv
    install_torch
    install_app test,sdxl
    install_browser
    say "running the tests"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./install.sh [run|test|dev] [extra arguments]" >&2
    exit 2
    ;;
esac
