"""The store's branding on every page: its name, its logo and its accent colour, the
colour checked for contrast (web.contrast) and served as a small stylesheet of CSS
custom properties, since the Content-Security-Policy allows no inline style."""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from appliance.config import Settings
from appliance.errors import NotFound
from web.contrast import AA_TEXT, contrast_ratio, darken, parse_hex, readable_accent, to_hex

log = logging.getLogger("diamra.branding")

# What the accent must stay readable against: white text on a primary button, and the
# light backgrounds diamra.css draws accent-coloured text on (white cards, the customer
# and staff paper, the round's status box, the warning tint).
ACCENT_AGAINST = ("#ffffff", "#faf8f4", "#f4f5f7", "#fbf6ec", "#fdf0d8")

LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
              ".svg": "image/svg+xml"}

STYLESHEET_PATH = "/branding.css"
LOGO_PATH = "/branding/logo"


@dataclass(frozen=True)
class Branding:
    """What the pages show of the store: `accent` is the colour as used (darkened when
    the store's own failed contrast), `accent_hover` a darker shade for hover, `decor`
    the store's colour as given, for borders and rules that carry no text."""

    store_name: str
    accent: str = ""
    accent_hover: str = ""
    decor: str = ""
    logo_url: str = ""
    logo_file: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Branding":
        """The branding the settings ask for; an accent colour that is too light is
        darkened to the nearest shade that passes, and the log says so."""
        accent = hover = decor = ""
        if settings.accent_colour:
            decor, accent = _accent(settings.accent_colour)
            hover = darken(accent, 0.8)
        logo_file = settings.store_logo_path
        if logo_file is not None:
            logo_url = LOGO_PATH + logo_file.suffix.lower()
        else:
            logo_url = settings.store_logo
        return cls(settings.store_name, accent, hover, decor, logo_url, logo_file)

    @property
    def stylesheet(self) -> str:
        """The CSS custom properties that override diamra.css's palette (empty when the
        store keeps the default)."""
        if not self.accent:
            return "/* The store keeps Diamra's own palette. */\n"
        return (f":root {{ --accent: {self.accent}; --accent-hover: {self.accent_hover}; "
                f"--gold: {self.decor}; }}\n")

    @property
    def version(self) -> str:
        """Changes when the stylesheet or the logo does, so browsers fetch the new one."""
        return hashlib.sha256(f"{self.stylesheet}{self.logo_url}".encode()).hexdigest()[:10]


@functools.lru_cache(maxsize=8)
def _accent(colour: str) -> tuple[str, str]:
    """(the colour as given, as "#rrggbb"; the shade the pages use). Cached, so the
    warning is logged once, not once per app."""
    given = to_hex(parse_hex(colour))
    accent = readable_accent(given, ACCENT_AGAINST)
    if accent != given:
        log.warning("accent_colour %s: white text on it has %.2f:1 contrast (WCAG AA needs %.1f:1); "
                    "buttons and links use %s instead", colour, contrast_ratio(given, "#ffffff"), AA_TEXT, accent)
    return given, accent


pages = APIRouter(include_in_schema=False)


@pages.get(STYLESHEET_PATH)
def stylesheet(request: Request):
    """The store's colours as CSS custom properties, loaded after diamra.css."""
    return Response(request.app.state.branding.stylesheet, media_type="text/css",
                    headers={"Cache-Control": "public, max-age=300"})


@pages.get(LOGO_PATH + "{suffix}")
def logo(request: Request, suffix: str):
    """The store's logo file, when the settings name one."""
    branding: Branding = request.app.state.branding
    if branding.logo_file is None or branding.logo_url != LOGO_PATH + suffix or not branding.logo_file.is_file():
        raise NotFound("This store has no logo file.")
    return FileResponse(branding.logo_file, media_type=LOGO_TYPES[suffix],
                        headers={"Cache-Control": "public, max-age=300"})
