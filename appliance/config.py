"""Typed settings: diamra.toml in the data folder, then DIAMRA_* environment variables.

Settings are read once at startup (`load_settings`) and passed to whatever needs them;
nothing else reads the environment or the file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import time as clock_time
from pathlib import Path

GENERATOR_CHOICES = ("auto", "sketch", "sdxl")
WORKER_CHOICES = ("embedded", "external")
DISPATCHER_CHOICES = ("sqlite", "celery")
COMPILE_MODES = ("default", "max-autotune")


class SettingsError(ValueError):
    """A setting has a value the appliance cannot run with; the message names it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    store_name: str = "Diamra Studio"
    # The store's logo in the top bar: an image file on this box (a relative path is in
    # the data folder; PNG, JPEG, WebP or SVG) or a /static/ address the app serves.
    store_logo: str = ""
    # The store's colour for buttons, links and focus rings ("#rrggbb"); the pages darken
    # it, with a warning in the log, until text on it and in it reaches WCAG AA (4.5:1).
    accent_colour: str = ""
    host: str = "0.0.0.0"
    customer_port: int = 8080
    staff_port: int = 8081
    generator: str = "auto"
    worker: str = "embedded"
    # How queued jobs reach workers: "sqlite" (the worker on this box claims from the
    # database; nothing to install) or "celery" (each job is sent through Redis at
    # `broker_url` to GPU workers on this and other boxes; see docs/scale.md).
    dispatcher: str = "sqlite"
    broker_url: str = ""
    # A GPU worker box: the shop's staff address on the LAN and the file holding the
    # token `diamra worker add NAME` printed.
    shop_url: str = ""
    worker_token_file: str = ""
    # A remote worker silent this long has its job sent to another.
    worker_silent_seconds: int = 30
    # Rehearsals only: the sketch renderer takes at least this long per image, standing in
    # for a GPU's drawing time (a fleet rehearsed on boxes without a GPU; bench/fleet.py).
    sketch_ms_per_image: int = 0
    # Jobs a single design may have waiting at once: one customer cannot fill the queue.
    max_queued_per_design: int = 2
    # How often a job may start before a crash-looping job is failed for good.
    max_job_attempts: int = 2
    session_hours: int = 12
    secure_cookies: bool = False
    max_body_bytes: int = 256 * 1024
    # Concept size in pixels; 0 = the generator's own (sketch 640, SDXL 1024).
    image_size: int = 0
    manifest: str = ""
    device: str = ""
    sdxl_steps: int = 0
    fuse_loras: bool = False
    # SDXL's fast path (pipelines.speed): auto = on with a CUDA card, off on the CPU; the
    # precision (auto = fp16 on a card); torch.compile's backend and inductor's mode
    # (default, or max-autotune: a little faster, many minutes more warm-up at each start).
    sdxl_fast: str = "auto"
    sdxl_dtype: str = "auto"
    sdxl_compile_backend: str = "inductor"
    sdxl_compile_mode: str = "default"
    # Proxy/tunnel addresses whose X-Forwarded-For/-Proto are believed (comma-separated).
    trusted_proxies: str = ""
    # Changes (posts) one client address may make a minute on the customer app.
    rate_limit_per_minute: int = 120
    # Days a design nobody ordered is kept after its last change (0 keeps them forever);
    # anything an order refers to is kept for good.
    keep_unordered_days: int = 30
    # Days a failed or cancelled round is kept (it drew nothing anyone can order).
    keep_failed_jobs_days: int = 7
    # The production stages the bench works through, in order (comma-separated; any of
    # cad, casting, setting, polishing, quality_check).
    production_stages: str = "cad,casting,setting,polishing,quality_check"
    # E-mail: off until smtp_host is set. The password is read from its own file.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_password_file: str = ""
    mail_from: str = ""
    # Where new-order alerts and customer messages go.
    store_email: str = ""
    # The customer site's address, for the private links in mails (https://design.example.com).
    public_url: str = ""
    # The in-store kiosk: seconds without a touch or a key before it asks "Still there?"
    # (and then starts over for the next customer), and the changes a minute one paired
    # kiosk may make (it serves many customers from one address, so it has its own bucket).
    kiosk_idle_seconds: int = 120
    kiosk_rate_limit_per_minute: int = 600
    # The store's own style LoRAs: when training may use the GPU (local HH:MM-HH:MM
    # windows, comma-separated, e.g. "20:00-08:00"; empty = whenever no customer waits),
    # the steps a new style trains for, and the square size its photos train at.
    training_hours: str = ""
    training_steps: int = 1000
    training_resolution: int = 1024
    extra: dict = field(default_factory=dict)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "diamra.db"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @property
    def training_windows(self) -> list:
        """`training_hours` as (start, end) local clock times; empty: any time."""
        return parse_hours(self.training_hours)

    @property
    def training_dir(self) -> Path:
        """The store's style photos and training samples (backed up), and work/ (not)."""
        return self.data_dir / "training"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def store_logo_path(self) -> Path | None:
        """The logo's file when `store_logo` names one (not a /static/ address); a relative
        path is in the data folder."""
        if not self.store_logo or self.store_logo.startswith("/static/"):
            return None
        path = Path(self.store_logo).expanduser()
        return path if path.is_absolute() else self.data_dir / path

    @property
    def manifest_path(self) -> Path:
        return Path(self.manifest) if self.manifest else default_manifest_path()


def default_manifest_path() -> Path:
    """models/manifest.toml of this checkout or installation."""
    for candidate in (Path("models/manifest.toml"), Path(__file__).resolve().parents[1] / "models" / "manifest.toml",
                      Path("/opt/diamra/models/manifest.toml")):
        if candidate.exists():
            return candidate
    return Path("models/manifest.toml")


def default_data_dir() -> Path:
    """`DIAMRA_DATA` if set, else `./data` in a checkout, else the installed location."""
    if os.environ.get("DIAMRA_DATA"):
        return Path(os.environ["DIAMRA_DATA"])
    if Path("pyproject.toml").exists() or not Path("/var/lib/diamra").exists():
        return Path("data")
    return Path("/var/lib/diamra")


_ENV_PREFIX = "DIAMRA_"


def load_settings(data_dir: Path | str | None = None, **overrides) -> Settings:
    """Settings from `<data>/diamra.toml`, then the file named by DIAMRA_CONFIG (the
    installed appliance's /etc/diamra/diamra.toml), then DIAMRA_* variables, then
    `overrides`.

    Unknown keys in the file are kept in `extra` so a newer file does not break an older
    appliance; a value of the wrong type raises SettingsError naming the key.
    """
    data = Path(data_dir) if data_dir is not None else default_data_dir()
    values: dict = {}
    for toml_path in (data / "diamra.toml", Path(os.environ.get("DIAMRA_CONFIG", "") or "/nonexistent")):
        if toml_path.is_file():
            try:
                values.update(tomllib.loads(toml_path.read_text(encoding="utf-8")))
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"{toml_path}: {exc}") from exc
    known = {f.name: f for f in dataclasses.fields(Settings)}
    for key, raw in os.environ.items():
        if key.startswith(_ENV_PREFIX) and key != "DIAMRA_DATA":
            name = key[len(_ENV_PREFIX):].lower()
            if name in known and name != "config":
                values[name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})

    extra = {k: v for k, v in values.items() if k not in known}
    typed = {}
    for name, value in values.items():
        if name not in known or name in ("data_dir", "extra"):
            continue
        typed[name] = _coerce(name, value, known[name].type)
    settings = Settings(data_dir=data, extra=extra, **typed)
    if settings.generator not in GENERATOR_CHOICES:
        raise SettingsError(f"generator must be one of {', '.join(GENERATOR_CHOICES)}, not {settings.generator!r}")
    if settings.worker not in WORKER_CHOICES:
        raise SettingsError(f"worker must be one of {', '.join(WORKER_CHOICES)}, not {settings.worker!r}")
    for port_name in ("customer_port", "staff_port"):
        port = getattr(settings, port_name)
        if not 0 <= port <= 65535:
            raise SettingsError(f"{port_name} must be a TCP port (0-65535), not {port}")
    _check_mail(settings)
    _check_branding(settings)
    _check_kiosk(settings)
    _check_training(settings)
    if settings.sdxl_fast not in ("auto", "on", "off"):
        raise SettingsError(f"sdxl_fast must be auto, on or off, not {settings.sdxl_fast!r}")
    if settings.sdxl_dtype not in ("auto", "fp16", "bf16", "fp32"):
        raise SettingsError(f"sdxl_dtype must be auto, fp16, bf16 or fp32, not {settings.sdxl_dtype!r}")
    if settings.sdxl_compile_backend not in ("inductor", "cudagraphs", "aot_eager", "eager"):
        raise SettingsError("sdxl_compile_backend must be inductor (the store's setting), cudagraphs, aot_eager or "
                            f"eager, not {settings.sdxl_compile_backend!r}")
    _check_dispatch(settings)
    if settings.sdxl_compile_mode not in COMPILE_MODES:
        raise SettingsError(f"sdxl_compile_mode must be {' or '.join(COMPILE_MODES)}, "
                            f"not {settings.sdxl_compile_mode!r}")
    for days_name in ("keep_unordered_days", "keep_failed_jobs_days"):
        if getattr(settings, days_name) < 0:
            raise SettingsError(f"{days_name} must be 0 (keep forever) or a number of days, "
                                f"not {getattr(settings, days_name)}")
    return settings


def _check_dispatch(settings: Settings) -> None:
    if settings.dispatcher not in DISPATCHER_CHOICES:
        raise SettingsError(f"dispatcher must be {' or '.join(DISPATCHER_CHOICES)}, not {settings.dispatcher!r}")
    if settings.dispatcher == "celery" and not settings.broker_url.startswith(("redis://", "rediss://")):
        raise SettingsError("dispatcher = \"celery\" needs broker_url, the Redis address "
                            "(redis://:PASSWORD@HOST:6379/0)")
    if settings.shop_url and not settings.shop_url.startswith(("http://", "https://")):
        raise SettingsError(f"shop_url must be the shop's staff address (http://HOST:8081), not {settings.shop_url!r}")
    if not 0 <= settings.sketch_ms_per_image <= 60000:
        raise SettingsError("sketch_ms_per_image must be from 0 to 60000")
    if not 3 <= settings.worker_silent_seconds <= 3600:
        raise SettingsError("worker_silent_seconds must be from 3 to 3600")


LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".svg")
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def _check_branding(settings: Settings) -> None:
    if settings.accent_colour and not _HEX_COLOUR.fullmatch(settings.accent_colour.strip()):
        raise SettingsError(f"accent_colour must be a hex colour such as \"#8a6424\", not {settings.accent_colour!r}")
    logo = settings.store_logo
    if not logo or logo.startswith("/static/"):
        return
    if "://" in logo:
        raise SettingsError(f"store_logo must be an image file on this box or a /static/ address, not {logo!r}: "
                            "the pages show only the app's own images")
    path = settings.store_logo_path
    if path.suffix.lower() not in LOGO_SUFFIXES:
        raise SettingsError(f"store_logo must be a {', '.join(s[1:].upper() for s in LOGO_SUFFIXES)} file, not {logo!r}")
    if not path.is_file():
        raise SettingsError(f"store_logo names {path}, which is not a file")


def _check_kiosk(settings: Settings) -> None:
    if not 3 <= settings.kiosk_idle_seconds <= 3600:
        raise SettingsError(f"kiosk_idle_seconds must be between 3 and 3600 seconds, not {settings.kiosk_idle_seconds}")
    if settings.kiosk_rate_limit_per_minute < 1:
        raise SettingsError(f"kiosk_rate_limit_per_minute must be at least 1, not {settings.kiosk_rate_limit_per_minute}")


TRAINING_MAX_STEPS = 20_000


def parse_hours(text: str) -> list[tuple[clock_time, clock_time]]:
    """`training_hours`: comma-separated HH:MM-HH:MM windows in the box's local time; a
    window may run past midnight ("20:00-08:00"). Empty: any time. ValueError says why."""
    windows = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", part)
        if not match:
            raise ValueError(f"{part!r} is not a window like 20:00-08:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"{part!r} has a time that is not on a clock")
        start = clock_time(h1, m1)
        end = clock_time(23, 59, 59, 999999) if h2 == 24 else clock_time(h2, m2)
        if start == end:
            raise ValueError(f"{part!r} starts and ends at the same minute")
        windows.append((start, end))
    return windows



def _check_training(settings: Settings) -> None:
    try:
        parse_hours(settings.training_hours)
    except ValueError as exc:
        raise SettingsError(f"training_hours must be local HH:MM-HH:MM windows such as \"20:00-08:00\": {exc}") \
            from None
    if not 1 <= settings.training_steps <= TRAINING_MAX_STEPS:
        raise SettingsError(f"training_steps must be between 1 and {TRAINING_MAX_STEPS}, not "
                            f"{settings.training_steps}")
    if settings.training_resolution % 8 or not 64 <= settings.training_resolution <= 2048:
        raise SettingsError("training_resolution must be a multiple of 8 between 64 and 2048 (SDXL trains at "
                            f"1024), not {settings.training_resolution}")


SMTP_SECURITY_CHOICES = ("starttls", "tls", "none")


def _check_mail(settings: Settings) -> None:
    if settings.smtp_security not in SMTP_SECURITY_CHOICES:
        raise SettingsError(f"smtp_security must be one of {', '.join(SMTP_SECURITY_CHOICES)}, "
                            f"not {settings.smtp_security!r}")
    if not 0 < settings.smtp_port <= 65535:
        raise SettingsError(f"smtp_port must be a TCP port (1-65535), not {settings.smtp_port}")
    if not settings.smtp_host:
        return
    if "@" not in settings.mail_from:
        raise SettingsError("mail_from must be the address mails are sent from (shop@example.com) when "
                            "smtp_host is set")
    if not settings.public_url.startswith(("https://", "http://")):
        raise SettingsError("public_url must be the customer site's address (https://...) when smtp_host is set: "
                            "mails link to it")
    if settings.smtp_user and not settings.smtp_password_file:
        raise SettingsError("smtp_password_file must name the file holding the SMTP password when smtp_user is set")


def _coerce(name: str, value, type_name: str):
    try:
        if type_name == "int":
            return int(value)
        if type_name == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name!r} has an invalid value {value!r}") from exc
