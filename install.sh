#!/usr/bin/env bash
# Diamra installer.
#   ./install.sh run         install into ./.venv and start the appliance (sketch renderer, ./data)
#   ./install.sh test        install with the test tools (and Debian's chromium and redis-server) and run every test
#   ./install.sh dev         install into ./.venv only (and Debian's redis-server, for the fleet tests)
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

install_redis() {
  # The fleet tests (tests/fleet) start a real redis-server on a loopback port.
  if ! command -v redis-server >/dev/null; then
    say "installing redis-server (apt-get)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null
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
  --dispatcher celery       send the queue through Redis to GPU workers on this and other
                            boxes: installs Redis (Debian's redis-server, password-protected,
                            listening on this box and its LAN address) and Celery; this box's
                            own NVIDIA GPU, if it has one (and SDXL), becomes one of the workers.
                            --dispatcher sqlite switches back (the worker on this box claims).
  --gpu-worker              install a GPU worker box for a shop on the LAN (no web apps, no
                            store data, no staff accounts): needs the next three options.
    --shop URL              the shop's staff address, http://SHOP:8081
    --broker-url URL        the shop's Redis, redis://:PASSWORD@SHOP:6379/0 (printed by the
                            shop's --dispatcher celery install)
    --token-file F          the worker's token, from `diamra worker add NAME --token-file F` on
                            the shop; copied to /etc/diamra/worker-token. An upgrade of a
                            worker box keeps the three it has unless given again.
  --root DIR                install into DIR as if it were / (no users, no systemctl, no apt-get
                            for Redis): for tests
  --no-systemctl            do not call systemctl (units are still installed)
  --uninstall [--purge]     remove the program and its units; --purge also removes the data
                            (/var/lib/diamra), settings (/etc/diamra) and Diamra's Redis settings
Layout: /opt/diamra/releases/<time>/ (own venv), /opt/diamra/current -> the running release,
/var/lib/diamra (data), /etc/diamra/diamra.toml (settings), /etc/systemd/system/diamra-*.
An upgrade installs and checks a new release beside the running one and switches only when
it works, so a failed upgrade leaves the previous version running.
HELP
}

has_nvidia_gpu() {
  command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1
}

setting() {
  # setting FILE KEY: the value of a top-level setting in a diamra.toml (nothing if absent).
  [ -f "$1" ] || return 0
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, tomllib
path, key = sys.argv[1:3]
try:
    with open(path, "rb") as handle:
        value = tomllib.load(handle).get(key, "")
except tomllib.TOMLDecodeError as exc:
    sys.exit(f"{path} is not valid TOML ({exc}): correct it, then run this again.")
print(value if isinstance(value, (str, int)) and not isinstance(value, bool) else "")
PY
}

set_setting() {
  # set_setting FILE KEY VALUE [if-missing]: write KEY = "VALUE" among the top-level settings
  # (before any [table]), replacing the key's line, or leaving it if asked to; every other
  # line of the file is kept as it is.
  "$PYTHON" - "$@" <<'PY'
import json, re, sys
path, key, value = sys.argv[1:4]
only_if_missing = sys.argv[4:] == ["if-missing"]
with open(path, encoding="utf-8") as handle:
    lines = handle.read().splitlines()
tables = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")), len(lines))
line = f"{key} = {json.dumps(value, ensure_ascii=False)}"
own = re.compile(rf"^\s*{re.escape(key)}\s*=")
found = next((i for i in range(tables) if own.match(lines[i])), None)
if found is None:
    lines.insert(tables, line)
elif not only_if_missing:
    lines[found] = line
with open(path, "w", encoding="utf-8") as handle:
    handle.write("\n".join(lines) + "\n")
PY
}

lan_address() {
  # This box's first IPv4 address on the store's network (hostname -I lists them).
  hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 -E '^[0-9]+(\.[0-9]+){3}$' || true
}

production() {
  local root="" systemctl_on=1 store_name="" admin="" admin_file="" sdxl=1 kiosk=0 uninstall=0 purge=0
  local dispatcher="" gpu_worker=0 shop_url="" broker_url="" token_file=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --root|--store-name|--admin|--admin-password-file|--dispatcher|--shop|--broker-url|--token-file)
        if [ $# -lt 2 ] || [ -z "$2" ]; then echo "$1 needs a value (./install.sh production --help)." >&2; return 2; fi ;;
    esac
    case "$1" in
      --root) root="$(cd "$2" && pwd)" || return 2; systemctl_on=0; shift 2 ;;
      --no-systemctl) systemctl_on=0; shift ;;
      --store-name) store_name="$2"; shift 2 ;;
      --admin) admin="$2"; shift 2 ;;
      --admin-password-file) admin_file="$2"; shift 2 ;;
      --without-sdxl) sdxl=0; shift ;;
      --kiosk) kiosk=1; shift ;;
      --dispatcher) dispatcher="$2"; shift 2 ;;
      --gpu-worker) gpu_worker=1; shift ;;
      --shop) shop_url="$2"; shift 2 ;;
      --broker-url) broker_url="$2"; shift 2 ;;
      --token-file) token_file="$2"; shift 2 ;;
      --uninstall) uninstall=1; shift ;;
      --purge) purge=1; shift ;;
      -h|--help) production_help; return 0 ;;
      *) echo "Unknown option $1" >&2; production_help >&2; return 2 ;;
    esac
  done
  local opt="$root/opt/diamra" data="$root/var/lib/diamra" etc="$root/etc/diamra" units="$root/etc/systemd/system"
  local chromium_policy="$root/etc/chromium/policies/managed/diamra-kiosk.json"
  local redis_etc="$root/etc/redis" redis_dropin="$root/etc/systemd/system/redis-server.service.d"
  local redis_include="include /etc/redis/diamra.conf" redis_mark="# Diamra's Redis settings (./install.sh production --dispatcher celery)"
  sysctl() { if [ "$systemctl_on" = 1 ]; then systemctl "$@"; else say "(systemctl $*: skipped)"; fi; }

  if [ "$uninstall" = 1 ]; then
    if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
      echo "The production install runs as root (sudo ./install.sh production)." >&2; return 1
    fi
    sysctl disable --now diamra-web.service diamra-worker.service diamra-gpu-worker.service \
      diamra-backup.timer diamra-kiosk.service 2>/dev/null || true
    rm -f "$units"/diamra-*.service "$units"/diamra-*.timer "$chromium_policy"
    sysctl daemon-reload
    rm -rf "$opt"
    if [ "$purge" = 1 ]; then
      rm -rf "$data" "$etc"
      if [ -f "$redis_etc/diamra.conf" ]; then
        # Redis itself stays (a Debian package, perhaps used by something else), as it was.
        [ -f "$redis_etc/redis.conf" ] && sed -i -e "\\|^$redis_mark\$|d" -e "\\|^$redis_include\$|d" "$redis_etc/redis.conf"
        rm -rf "$redis_etc/diamra.conf" "$redis_dropin"
        sysctl daemon-reload
        sysctl restart redis-server.service || true
      fi
      say "removed Diamra, its data and its settings"
    else say "removed Diamra; the data in $data and settings in $etc are kept"; fi
    return 0
  fi

  # 0. The options, checked before anything is installed.
  need_python
  if [ "$gpu_worker" = 0 ] && [ -f "$units/diamra-gpu-worker.service" ] && [ ! -f "$units/diamra-web.service" ]; then
    say "this is a GPU worker box (diamra-gpu-worker is installed, the shop is not): upgrading it as one"
    gpu_worker=1
  fi
  case "$dispatcher" in
    ""|sqlite|celery) ;;
    *) echo "--dispatcher is sqlite (this box's worker claims the jobs) or celery (GPU workers through Redis), not $dispatcher." >&2
       return 2 ;;
  esac
  if [ "$gpu_worker" = 1 ]; then
    local shop_only=""
    [ -n "$store_name" ] && shop_only="$shop_only --store-name"
    [ -n "$admin" ] && shop_only="$shop_only --admin"
    [ -n "$admin_file" ] && shop_only="$shop_only --admin-password-file"
    [ "$kiosk" = 1 ] && shop_only="$shop_only --kiosk"
    [ -n "$dispatcher" ] && shop_only="$shop_only --dispatcher"
    if [ -n "$shop_only" ]; then
      echo "--gpu-worker installs a worker-only box; these options are for the shop's install:$shop_only." >&2; return 2
    fi
    if [ -f "$units/diamra-web.service" ]; then
      echo "This box runs the shop (diamra-web is installed): --gpu-worker is for another box. The shop's own GPU joins the workers with ./install.sh production --dispatcher celery." >&2
      return 2
    fi
    # An upgrade keeps what the worker box has; a first install must be told.
    [ -z "$shop_url" ] && shop_url="$(setting "$etc/diamra.toml" shop_url)"
    [ -z "$broker_url" ] && broker_url="$(setting "$etc/diamra.toml" broker_url)"
    if [ -z "$shop_url" ]; then
      echo "A GPU worker box needs --shop URL: the shop's staff address on the LAN (http://SHOP:8081)." >&2; return 2
    fi
    case "$shop_url" in http://*|https://*) ;; *)
      echo "--shop is the shop's staff address (http://SHOP:8081), not $shop_url." >&2; return 2 ;;
    esac
    if [ -z "$broker_url" ]; then
      echo "A GPU worker box needs --broker-url URL: the shop's Redis (redis://:PASSWORD@SHOP:6379/0), printed by the shop's ./install.sh production --dispatcher celery." >&2
      return 2
    fi
    case "$broker_url" in redis://*|rediss://*) ;; *)
      echo "--broker-url is the shop's Redis address (redis://:PASSWORD@SHOP:6379/0); the one given does not start with redis://." >&2
      return 2 ;;
    esac
    if [ -n "$token_file" ]; then
      if [ ! -r "$token_file" ] || [ -d "$token_file" ]; then
        echo "Cannot read the worker token file $token_file: it is missing, or not a file this user may read." >&2; return 2
      fi
      if [ -z "$(tr -d '[:space:]' < "$token_file")" ]; then
        echo "The worker token file $token_file is empty: it holds the token \`diamra worker add NAME --token-file F\` wrote on the shop." >&2
        return 2
      fi
    elif [ ! -s "$etc/worker-token" ]; then
      echo "A GPU worker box needs --token-file FILE: the token \`diamra worker add NAME --token-file FILE\` wrote on the shop." >&2
      return 2
    fi
  elif [ -n "$shop_url$broker_url$token_file" ]; then
    echo "--shop, --broker-url and --token-file are for a GPU worker box (--gpu-worker); the shop's own install makes its Redis with --dispatcher celery." >&2
    return 2
  fi
  if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    echo "The production install runs as root (sudo ./install.sh production)." >&2; return 1
  fi

  # 1. A system user that owns the data and nothing else.
  if [ -z "$root" ] && ! id diamra >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/diamra --shell /usr/sbin/nologin diamra
  fi
  mkdir -p "$opt/releases" "$data" "$etc" "$units"
  chmod 0750 "$data" "$etc"

  if [ "$gpu_worker" = 1 ]; then
    gpu_worker_box; return
  fi

  # The dispatcher asked for, or the one the store has.
  [ -z "$dispatcher" ] && dispatcher="$(setting "$etc/diamra.toml" dispatcher)"
  [ -z "$dispatcher" ] && dispatcher=sqlite

  # 2. A new release beside the running one, with its own virtual environment.
  local release fleet=0
  [ "$dispatcher" = celery ] && fleet=1
  release="$opt/releases/$(date -u +%Y%m%dT%H%M%SZ)"
  say "installing a new release in $release"
  mkdir -p "$release"
  cp -r appliance pipelines web models systemd pyproject.toml README.md install.sh "$release/"
  if ! install_release "$release" "$sdxl" "$fleet"; then
    rm -rf "$release"
    echo "The upgrade failed; the previous version keeps running." >&2; return 1
  fi

  # 3. Settings are kept across upgrades; the store's name is asked for once.
  if [ ! -f "$etc/diamra.toml" ]; then
    if [ -z "$store_name" ] && [ -t 0 ]; then read -r -p "Store name: " store_name; fi
    (umask 0027 && : > "$etc/diamra.toml.new")
    set_setting "$etc/diamra.toml.new" store_name "${store_name:-Diamra Studio}"      # quoted for TOML
    set_setting "$etc/diamra.toml.new" host 0.0.0.0
    mv -f "$etc/diamra.toml.new" "$etc/diamra.toml"
  fi

  # 4. Migrate the data (the database is backed up first) with the new release; only if
  #    that works does the new release become current.
  if ! DIAMRA_CONFIG="$etc/diamra.toml" "$release/venv/bin/diamra" --data "$data" init; then
    rm -rf "$release"
    echo "The new release could not open the data; the previous version keeps running." >&2; return 1
  fi
  switch_release "$release"

  # The dispatcher's settings (and Redis), now that a release that can use them is current.
  local address
  address="$(lan_address)"
  if [ "$dispatcher" = celery ]; then
    shop_redis "$address"
  elif [ "$(setting "$etc/diamra.toml" dispatcher)" = celery ]; then
    set_setting "$etc/diamra.toml" dispatcher sqlite
    say "dispatcher = \"sqlite\": the worker on this box claims the jobs again (Redis is left installed)"
  fi

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

  # 6. Who draws: the worker on this box claims from the database (sqlite), or GPU workers
  #    take the jobs from Redis (celery), this box's own card among them when it has one.
  local drawing="diamra-worker.service" stale="diamra-gpu-worker.service"
  if [ "$dispatcher" = celery ]; then
    drawing="" stale="diamra-worker.service diamra-gpu-worker.service"
    if [ "$sdxl" = 0 ]; then
      say "a sketch-only install (--without-sdxl): this box does not draw; the GPU workers on other boxes do"
    elif ! has_nvidia_gpu; then
      say "no NVIDIA GPU on this box: the GPU workers on other boxes draw the concepts"
    elif [ -s "$etc/worker-token" ] || shop_gpu_worker; then
      drawing="diamra-gpu-worker.service" stale="diamra-worker.service"
    fi
  fi
  local unit
  for unit in $stale; do
    if [ -f "$units/$unit" ]; then
      sysctl disable --now "$unit"
      rm -f "$units/$unit"
    fi
  done
  if [ -z "$root" ]; then
    chown -R diamra:diamra "$data"
    chgrp diamra "$etc" "$etc/diamra.toml"
  fi

  # 7. Units, enabled and (re)started.
  local services="diamra-web.service diamra-backup.timer $drawing"
  [ "$kiosk" = 1 ] && services="$services diamra-kiosk.service"
  cp "$opt/current/systemd/diamra-web.service" "$opt/current/systemd/diamra-backup.service" \
     "$opt/current/systemd/diamra-backup.timer" "$units/"
  [ -n "$drawing" ] && cp "$opt/current/systemd/$drawing" "$units/"
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
  sysctl restart diamra-web.service $drawing
  sysctl start diamra-backup.timer

  say "Diamra is installed."
  echo "  Customer studio: http://${address:-localhost}:8080/"
  echo "  Staff dashboard: http://${address:-localhost}:8081/  (keep this one on the store's network)"
  if [ "$dispatcher" = celery ]; then
    local worker_broker="redis://:$(cat "$etc/redis-password")@${address:-THIS-SHOP}:6379/0"
    local diamra_cmd="sudo -u diamra env DIAMRA_CONFIG=/etc/diamra/diamra.toml /opt/diamra/current/venv/bin/diamra --data /var/lib/diamra"
    echo "  GPU workers take the jobs from Redis at ${address:-this box}:6379. To add a GPU box (gpu-2, say):"
    echo "    1. here:  $diamra_cmd worker add gpu-2 --token-file /var/lib/diamra/gpu-2.token"
    echo "    2. copy that file to the GPU box (then delete it here) and there, as root, from a copy of Diamra:"
    echo "       ./install.sh production --gpu-worker --shop http://${address:-THIS-SHOP}:8081 \\"
    echo "         --broker-url $worker_broker --token-file gpu-2.token"
    echo "    (the Redis address holds its password, in /etc/diamra/redis-password: pass it on as you would the token)"
    echo "  Each worker, its card and what it draws: $diamra_cmd worker list"
  fi
}

shop_redis() {
  # The shop's Redis for dispatcher = "celery": Debian's redis-server, on this box and its
  # LAN address, behind a password made once (kept in /etc/diamra/redis-password), with its
  # append-only file on so a restart keeps the queue; and the shop's settings pointing at it.
  # Uses production()'s variables.
  local address="$1" password conf
  if [ -n "$root" ]; then
    say "(apt-get install redis-server: skipped under --root)"
  elif ! command -v redis-server >/dev/null; then
    say "installing Redis (apt-get install redis-server)"
    if ! as_root apt-get update -qq || ! DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null; then
      echo "Could not install redis-server with apt-get: the new release is installed, but the shop's settings are not changed (its dispatcher is as it was); run this again once apt-get works." >&2
      return 1
    fi
  fi
  if [ -s "$etc/redis-password" ]; then
    password="$(tr -d '[:space:]' < "$etc/redis-password")"
  else
    password="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')"
    (umask 0027 && printf '%s\n' "$password" > "$etc/redis-password")
  fi
  chmod 0640 "$etc/redis-password"
  [ -z "$root" ] && chgrp diamra "$etc/redis-password"

  mkdir -p "$redis_etc"
  if [ ! -f "$redis_etc/redis.conf" ]; then
    if [ -z "$root" ]; then
      echo "redis-server is installed but /etc/redis/redis.conf is missing: reinstall it (apt-get install --reinstall redis-server), then run this again." >&2
      return 1
    fi
    : > "$redis_etc/redis.conf"
  fi
  local changed=0
  conf="$(mktemp)"
  {
    echo "# Written by Diamra's installer (./install.sh production --dispatcher celery) on every run;"
    echo "# included at the end of /etc/redis/redis.conf, so these win. The shop and its GPU workers"
    echo "# reach Redis here; the password is in /etc/diamra/redis-password."
    # "-": Redis starts even when the LAN address is not up yet (or has changed).
    echo "bind 127.0.0.1${address:+ -$address}"
    echo "port 6379"
    echo "protected-mode yes"
    echo "requirepass $password"
    echo "appendonly yes"
    echo "appendfsync everysec"
  } > "$conf"
  if ! cmp -s "$conf" "$redis_etc/diamra.conf"; then
    install -m 0640 "$conf" "$redis_etc/diamra.conf"
    changed=1
  fi
  rm -f "$conf"
  [ -z "$root" ] && chgrp redis "$redis_etc/diamra.conf"
  if ! grep -qxF "$redis_include" "$redis_etc/redis.conf"; then
    printf '\n%s\n%s\n' "$redis_mark" "$redis_include" >> "$redis_etc/redis.conf"
    changed=1
  fi
  # Redis listens on the LAN address: it starts once the network is up.
  mkdir -p "$redis_dropin"
  printf '# Diamra: Redis listens on the LAN address, so it starts once the network is up.\n[Unit]\nWants=network-online.target\nAfter=network-online.target\n' \
    > "$redis_dropin/diamra.conf"
  if [ "$changed" = 1 ]; then
    sysctl daemon-reload
    sysctl enable redis-server.service
    if ! sysctl restart redis-server.service; then
      echo "Redis did not start with Diamra's settings (/etc/redis/diamra.conf; journalctl -u redis-server says why): the shop's settings are not changed." >&2
      return 1
    fi
  fi
  if [ -z "$address" ]; then
    say "no LAN address found (hostname -I): Redis listens on this box only, so GPU workers on other boxes cannot reach it yet; run this again once the box has its address"
  fi

  # The shop's settings: the Celery dispatcher and its Redis (an address of the store's own
  # choosing is kept; one this installer wrote follows the box's address).
  local toml="$etc/diamra.toml" current
  set_setting "$toml" dispatcher celery
  current="$(setting "$toml" broker_url)"
  case "$current" in
    # The shop (and its own GPU worker) reach Redis on this box: an address change never cuts them off.
    ""|"redis://:$password@"*) set_setting "$toml" broker_url "redis://:$password@127.0.0.1:6379/0" ;;
    *) say "broker_url in $toml is kept as it is (this box's Redis answers at ${address:-127.0.0.1}:6379)" ;;
  esac
}

shop_gpu_worker() {
  # This shop's own NVIDIA GPU as one of its Celery workers, named shop: its token (made
  # once, in /etc/diamra/worker-token) and where it finds the shop. Uses production()'s variables.
  local toml="$etc/diamra.toml" host port
  host="$(setting "$toml" host)" port="$(setting "$toml" staff_port)"
  case "$host" in ""|0.0.0.0|::) host=127.0.0.1 ;; esac
  if ! DIAMRA_CONFIG="$toml" "$opt/current/venv/bin/diamra" --data "$data" worker add shop \
      --token-file "$etc/worker-token" >/dev/null; then
    say "this box's own GPU does not draw yet (the reason is above): once that is put right, run this again"
    rm -f "$etc/worker-token"
    return 1
  fi
  chmod 0640 "$etc/worker-token" || return 1
  if [ -z "$root" ]; then chgrp diamra "$etc/worker-token" || return 1; fi
  set_setting "$toml" shop_url "http://$host:${port:-8081}" if-missing || return 1
  set_setting "$toml" worker_token_file /etc/diamra/worker-token if-missing || return 1
  say "this box's NVIDIA GPU draws too: GPU worker shop (diamra-gpu-worker.service)"
}

gpu_worker_box() {
  # A worker-only box: the release with Celery (and SDXL), its settings and token, and
  # diamra-gpu-worker. No web apps, no database, no staff accounts. Uses production()'s variables.
  local release toml="$etc/diamra.toml"
  release="$opt/releases/$(date -u +%Y%m%dT%H%M%SZ)"
  say "installing a new release in $release (a GPU worker box)"
  mkdir -p "$release"
  cp -r appliance pipelines web models systemd pyproject.toml README.md install.sh "$release/"
  if ! install_release "$release" "$sdxl" 1; then
    rm -rf "$release"
    echo "The upgrade failed; the previous version keeps running." >&2; return 1
  fi

  # Settings: what the options say; anything else the box's settings have is kept. They
  # are written beside the old ones and take their place once the new release accepts them.
  if [ -f "$toml" ]; then
    cp -p "$toml" "$toml.new"
  else
    printf '# A GPU worker box of the shop at %s (./install.sh production --gpu-worker).\n' "$shop_url" > "$toml.new"
    chmod 0640 "$toml.new"
  fi
  set_setting "$toml.new" dispatcher celery
  set_setting "$toml.new" shop_url "$shop_url"
  set_setting "$toml.new" broker_url "$broker_url"
  set_setting "$toml.new" worker_token_file /etc/diamra/worker-token
  # A GPU box draws with SDXL or not at all: with `auto` a broken driver or model would
  # quietly draw sketches among the other boxes' concepts.
  [ "$sdxl" = 1 ] && set_setting "$toml.new" generator sdxl
  if ! DIAMRA_CONFIG="$toml.new" "$release/venv/bin/python" -c '
import sys
from appliance.config import SettingsError, load_settings
try:
    load_settings(sys.argv[1])
except SettingsError as exc:
    sys.exit(f"These settings for {sys.argv[2]} are not usable: {exc}.")' "$data" "$toml"; then
    rm -rf "$release" "$toml.new"
    echo "Nothing was changed; the previous version (if any) keeps running." >&2; return 1
  fi
  mv -f "$toml.new" "$toml"
  if [ -n "$token_file" ] && ! [ "$token_file" -ef "$etc/worker-token" ]; then
    (umask 0027 && tr -d '[:space:]' < "$token_file" > "$etc/worker-token.new" && echo >> "$etc/worker-token.new")
    chmod 0640 "$etc/worker-token.new"
    mv -f "$etc/worker-token.new" "$etc/worker-token"
  fi
  if [ -z "$root" ]; then
    chgrp diamra "$etc" "$toml" "$etc/worker-token"
  fi
  switch_release "$release"
  # Models and caches live in the data folder; there is no database on a worker box.
  mkdir -p "$data/models" "$data/cache"
  [ -z "$root" ] && chown -R diamra:diamra "$data"

  cp "$opt/current/systemd/diamra-gpu-worker.service" "$units/"
  sysctl daemon-reload
  sysctl enable diamra-gpu-worker.service
  # Without its SDXL models the worker would take the shop's jobs and draw sketches: it
  # starts once they are here.
  local models=1
  if [ "$sdxl" = 1 ] && ! DIAMRA_CONFIG="$toml" "$opt/current/venv/bin/python" -c '
import sys
from appliance.config import load_settings
from appliance.ops.models import ModelStore
settings = load_settings(sys.argv[1])
sys.exit(0 if ModelStore(settings.models_dir, settings.manifest_path).lock().get("models", {}).get("base") else 1)' \
      "$data" 2>/dev/null; then
    models=0
  fi
  if [ "$models" = 1 ]; then
    sysctl restart diamra-gpu-worker.service
  fi

  say "Diamra's GPU worker is installed: it takes the jobs of the shop at $shop_url."
  if [ "$models" = 0 ]; then
    echo "  The SDXL models are not on this box yet, so the worker is enabled but not started. Fetch them:"
    echo "    sudo -u diamra env DIAMRA_DATA=/var/lib/diamra DIAMRA_CONFIG=/etc/diamra/diamra.toml /opt/diamra/current/venv/bin/diamra models pull"
    echo "  (or models import without internet; see the README), then: systemctl start diamra-gpu-worker"
  fi
  echo "  On the shop, diamra worker list shows it, its card and what it draws; here, journalctl -u diamra-gpu-worker."
}

switch_release() {
  # A relative link: the tree stays valid when inspected under another root.
  ln -sfn "releases/$(basename "$1")" "$opt/current.next" && mv -T "$opt/current.next" "$opt/current"
  ls -1d "$opt"/releases/* | head -n -3 | xargs -r rm -rf     # keep the last three releases
}

install_release() {
  # The release's own venv: the app, the SDXL generator where there is a GPU for it, and
  # Celery where jobs go through Redis (install_release RELEASE SDXL FLEET).
  local release="$1" sdxl="$2" fleet="${3:-0}"
  "$PYTHON" -m venv "$release/venv" || return 1
  "$release/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip || return 1
  if [ "$sdxl" = 1 ] && has_nvidia_gpu; then
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
  [ "$sdxl" = 1 ] && extras="sdxl"
  [ "$fleet" = 1 ] && extras="${extras:+$extras,}fleet"
  (cd "$release" && "$release/venv/bin/python" -m pip install --quiet --disable-pip-version-check ".${extras:+[$extras]}") \
    || return 1
  "$release/venv/bin/diamra" --help >/dev/null || return 1
  if [ "$fleet" = 1 ]; then "$release/venv/bin/python" -c "import celery, redis" || return 1; fi
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
    install_app test,sdxl,fleet -e
    install_redis
    say "installed; start with: $VENV/bin/diamra serve"
    ;;
  test)
    make_venv
    install_torch
    install_app test,sdxl,fleet
    install_browser
    install_redis
    install_axe
    say "running the tests"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./install.sh [run|test|dev|production] [extra arguments]" >&2
    exit 2
    ;;
esac
