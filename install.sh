#!/usr/bin/env bash
# Diamra installer.
#   ./install.sh run         install into ./.venv and start the appliance (sketch renderer, ./data)
#   ./install.sh test        install with the test tools (and Debian's chromium) and run every test
#   ./install.sh dev         install into ./.venv only
#   ./install.sh production  install or upgrade the store appliance (as root; see production_help)
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
  # cage is only here so the tests can verify the kiosk unit against the real binaries;
  # wrk is the load generator bench/live_price.py uses.
  if ! command -v chromium >/dev/null || ! command -v cage >/dev/null || ! command -v systemd-analyze >/dev/null \
      || ! command -v wrk >/dev/null || [ ! -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
    say "installing chromium, cage, systemd tools, wrk and fonts (apt-get)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium cage systemd wrk fonts-dejavu-core >/dev/null
  fi
}

install_axe() {
  # The accessibility tests inject axe-core into every page. It comes from npm, major
  # version 4, into tests/.axe (ignored by git), so a fresh clone's test run gets it.
  if [ ! -f tests/.axe/node_modules/axe-core/axe.min.js ]; then
    if ! command -v npm >/dev/null; then
      say "installing npm (apt-get)"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq npm >/dev/null
    fi
    say "installing axe-core 4 (npm) into tests/.axe"
    npm install --prefix tests/.axe --no-audit --no-fund --loglevel=error axe-core@4 >/dev/null
  fi
}

production_help() {
  cat <<'HELP'
./install.sh production [options]      install or upgrade Diamra on this machine (run as root)
  --store-name NAME         the store's name (asked for on a first install at a terminal)
  --admin NAME              the first staff account (admin); its password comes from
  --admin-password-file F   this file, or is asked for at a terminal. No account, no dashboard:
                            there is never a "first visitor becomes admin" window.
  --without-sdxl            skip torch and the SDXL generator (a sketch-only box)
  --kiosk                   also install the in-store kiosk unit (cage + chromium)
  --root DIR                install into DIR as if it were / (no users, no systemctl): for tests
  --no-systemctl            do not call systemctl (units are still installed)
  --uninstall [--purge]     remove the program and its units; --purge also removes the data
                            (/var/lib/diamra) and settings (/etc/diamra)
Layout: /opt/diamra/releases/<time>/ (own venv), /opt/diamra/current -> the running release,
/var/lib/diamra (data), /etc/diamra/diamra.toml (settings), /etc/systemd/system/diamra-*.
An upgrade installs and checks a new release beside the running one and switches only when
it works, so a failed upgrade leaves the previous version running.
HELP
}

production() {
  local root="" systemctl_on=1 store_name="" admin="" admin_file="" sdxl=1 kiosk=0 uninstall=0 purge=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --root) root="$(cd "$2" && pwd)"; systemctl_on=0; shift 2 ;;
      --no-systemctl) systemctl_on=0; shift ;;
      --store-name) store_name="$2"; shift 2 ;;
      --admin) admin="$2"; shift 2 ;;
      --admin-password-file) admin_file="$2"; shift 2 ;;
      --without-sdxl) sdxl=0; shift ;;
      --kiosk) kiosk=1; shift ;;
      --uninstall) uninstall=1; shift ;;
      --purge) purge=1; shift ;;
      -h|--help) production_help; return 0 ;;
      *) echo "Unknown option $1" >&2; production_help >&2; return 2 ;;
    esac
  done
  if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    echo "The production install runs as root (sudo ./install.sh production)." >&2; return 1
  fi
  local opt="$root/opt/diamra" data="$root/var/lib/diamra" etc="$root/etc/diamra" units="$root/etc/systemd/system"
  local chromium_policy="$root/etc/chromium/policies/managed/diamra-kiosk.json"
  local services="diamra-web.service diamra-worker.service diamra-backup.timer"
  [ "$kiosk" = 1 ] && services="$services diamra-kiosk.service"
  sysctl() { if [ "$systemctl_on" = 1 ]; then systemctl "$@"; else say "(systemctl $*: skipped)"; fi; }

  if [ "$uninstall" = 1 ]; then
    sysctl disable --now $services diamra-kiosk.service 2>/dev/null || true
    rm -f "$units"/diamra-*.service "$units"/diamra-*.timer "$chromium_policy"
    sysctl daemon-reload
    rm -rf "$opt"
    if [ "$purge" = 1 ]; then rm -rf "$data" "$etc"; say "removed Diamra, its data and its settings";
    else say "removed Diamra; the data in $data and settings in $etc are kept"; fi
    return 0
  fi

  # 1. A system user that owns the data and nothing else.
  if [ -z "$root" ] && ! id diamra >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/diamra --shell /usr/sbin/nologin diamra
  fi
  mkdir -p "$opt/releases" "$data" "$etc" "$units"
  chmod 0750 "$data" "$etc"

  # 2. A new release beside the running one, with its own virtual environment.
  local release="$opt/releases/$(date -u +%Y%m%dT%H%M%SZ)"
  say "installing a new release in $release"
  mkdir -p "$release"
  cp -r appliance pipelines web models systemd pyproject.toml README.md install.sh "$release/"
  if ! install_release "$release" "$sdxl"; then
    rm -rf "$release"
    echo "The upgrade failed; the previous version keeps running." >&2; return 1
  fi

  # 3. Settings are kept across upgrades; the store's name is asked for once.
  if [ ! -f "$etc/diamra.toml" ]; then
    if [ -z "$store_name" ] && [ -t 0 ]; then read -r -p "Store name: " store_name; fi
    printf 'store_name = "%s"\nhost = "0.0.0.0"\n' "${store_name:-Diamra Studio}" > "$etc/diamra.toml"
    chmod 0640 "$etc/diamra.toml"
  fi

  # 4. Migrate the data (the database is backed up first) with the new release; only if
  #    that works does the new release become current.
  if ! DIAMRA_CONFIG="$etc/diamra.toml" "$release/venv/bin/diamra" --data "$data" init; then
    rm -rf "$release"
    echo "The new release could not open the data; the previous version keeps running." >&2; return 1
  fi
  # A relative link: the tree stays valid when inspected under another root.
  ln -sfn "releases/$(basename "$release")" "$opt/current.next" && mv -T "$opt/current.next" "$opt/current"
  ls -1d "$opt"/releases/* | head -n -3 | xargs -r rm -rf     # keep the last three releases

  # 5. The first staff account: created here, never by whoever visits first.
  if [ -z "$(DIAMRA_CONFIG="$etc/diamra.toml" "$opt/current/venv/bin/diamra" --data "$data" user list)" ]; then
    if [ -z "$admin" ] && [ -t 0 ]; then read -r -p "First staff account (admin) name: " admin; fi
    if [ -n "$admin" ]; then
      if [ -n "$admin_file" ]; then
        DIAMRA_CONFIG="$etc/diamra.toml" "$opt/current/venv/bin/diamra" --data "$data" user add "$admin" --role admin < "$admin_file"
      else
        DIAMRA_CONFIG="$etc/diamra.toml" "$opt/current/venv/bin/diamra" --data "$data" user add "$admin" --role admin
      fi
    else
      say "no staff account yet: create one with: sudo -u diamra $opt/current/venv/bin/diamra --data $data user add NAME"
    fi
  fi
  [ -z "$root" ] && chown -R diamra:diamra "$data" && chgrp diamra "$etc" "$etc/diamra.toml"

  # 6. Units, enabled and (re)started.
  cp "$opt/current/systemd/diamra-web.service" "$opt/current/systemd/diamra-worker.service" \
     "$opt/current/systemd/diamra-backup.service" "$opt/current/systemd/diamra-backup.timer" "$units/"
  if [ "$kiosk" = 1 ]; then
    cp "$opt/current/systemd/diamra-kiosk.service" "$units/"
    # Chromium offers what one customer typed to the next whatever autocomplete=off says,
    # and the kiosk keeps its profile (for the pairing cookie): a managed policy turns off
    # autofill of addresses and cards, the password manager, and sign-in and sync.
    mkdir -p "$(dirname "$chromium_policy")"
    cp "$opt/current/systemd/chromium-kiosk-policy.json" "$chromium_policy"
    chmod 0644 "$chromium_policy"
    [ -z "$root" ] && { id diamra-kiosk >/dev/null 2>&1 || useradd --system --create-home diamra-kiosk; }
  fi
  sysctl daemon-reload
  sysctl enable $services
  sysctl restart diamra-web.service diamra-worker.service
  sysctl start diamra-backup.timer

  local address
  address="$(hostname -I 2>/dev/null | awk '{print $1}')"
  say "Diamra is installed."
  echo "  Customer studio: http://${address:-localhost}:8080/"
  echo "  Staff dashboard: http://${address:-localhost}:8081/  (keep this one on the store's network)"
}

install_release() {
  # The release's own venv: the app, and the SDXL generator where there is a GPU for it.
  local release="$1" sdxl="$2"
  "$PYTHON" -m venv "$release/venv" || return 1
  "$release/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip || return 1
  if [ "$sdxl" = 1 ] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    say "NVIDIA GPU found: installing torch with CUDA and the SDXL generator"
    # torch.compile (inductor and Triton) builds the fast path's kernels with a C compiler.
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq gcc python3-dev >/dev/null || return 1
    "$release/venv/bin/python" -m pip install --quiet --disable-pip-version-check torch || return 1
  elif [ "$sdxl" = 1 ]; then
    say "no NVIDIA GPU: installing the CPU build of torch"
    "$release/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "torch==${DIAMRA_TORCH_VERSION:-2.13.0}" || return 1
  fi
  local extras=""
  [ "$sdxl" = 1 ] && extras="[sdxl]"
  (cd "$release" && "$release/venv/bin/python" -m pip install --quiet --disable-pip-version-check ".$extras") || return 1
  "$release/venv/bin/diamra" --help >/dev/null
}

case "$mode" in
  production)
    production "$@"
    ;;
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
    install_axe
    say "running the tests"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./install.sh [run|test|dev|production] [extra arguments]" >&2
    exit 2
    ;;
esac
