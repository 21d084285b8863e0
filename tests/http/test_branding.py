"""The store's branding (web/branding.py): its logo in the top bar with the store's name
as its text, its accent colour served as CSS custom properties after the palette, and a
colour too light for white text darkened until it reads, with a warning in the log."""

import logging

import pytest
from fastapi.testclient import TestClient

from appliance import cli
from appliance.config import load_settings
from web.branding import ACCENT_AGAINST, Branding
from web.contrast import AA_TEXT, contrast_ratio

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40"><rect width="160" height="40"/></svg>'


@pytest.fixture
def branded(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "logo.svg").write_text(SVG)
    settings = load_settings(data, generator="sketch", store_name="Maison Or", store_logo="logo.svg",
                             accent_colour="#F0C040")
    store = cli.open_appliance(settings)
    customer_app, staff_app = cli.build_apps(settings, store)
    with TestClient(customer_app) as customer, TestClient(staff_app, base_url="http://testserver/staff") as staff:
        yield customer, staff
    store.close()


def test_a_light_accent_is_darkened_until_white_text_and_accent_text_read(tmp_path, caplog):
    settings = load_settings(tmp_path, accent_colour="#f0c041")
    with caplog.at_level(logging.WARNING, logger="diamra.branding"):
        branding = Branding.from_settings(settings)
        Branding.from_settings(settings)                    # the second app: no second warning
    assert branding.decor == "#f0c041"
    assert min(contrast_ratio(branding.accent, c) for c in ACCENT_AGAINST) >= AA_TEXT
    assert contrast_ratio(branding.accent_hover, "#ffffff") > contrast_ratio(branding.accent, "#ffffff")
    warnings = [r.getMessage() for r in caplog.records if r.name == "diamra.branding"]
    assert len(warnings) == 1 and "#f0c041" in warnings[0] and branding.accent in warnings[0]


def test_a_dark_enough_accent_is_used_as_given_without_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="diamra.branding"):
        branding = Branding.from_settings(load_settings(tmp_path, accent_colour="#1F4E79"))
    assert branding.accent == "#1f4e79" == branding.decor
    assert not [r for r in caplog.records if r.name == "diamra.branding"]


def test_the_default_palette_needs_no_override(customer):
    css = customer.get("/branding.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "--accent" not in css.text
    page = customer.get("/").text
    assert '<link rel="stylesheet" href="/branding.css?v=' in page
    assert '<a class="brand" href="/">Diamra Studio</a>' in page
    assert '<a class="skip-link" href="#main">Skip to content</a>' in page and '<main id="main"' in page


def test_the_store_s_colours_and_logo_reach_both_apps(branded):
    customer, staff = branded
    for client, page_path in ((customer, "/"), (staff, "/login")):
        page = client.get(page_path)
        assert page.status_code == 200
        assert '<img class="logo" src="/branding/logo.svg?v=' in page.text and 'alt="Maison Or"' in page.text
        css = client.get("http://testserver/branding.css")
        assert "--gold: #f0c040;" in css.text
        accent = css.text.split("--accent: ")[1][:7]
        assert contrast_ratio(accent, "#ffffff") >= AA_TEXT
        logo = client.get("http://testserver/branding/logo.svg")
        assert logo.status_code == 200 and logo.headers["content-type"].startswith("image/svg+xml")
        assert logo.text == SVG
    assert customer.get("/branding/logo.png").status_code == 404


def test_a_static_logo_is_linked_where_it_is(tmp_path):
    settings = load_settings(tmp_path, generator="sketch", store_logo="/static/favicon.svg")
    store = cli.open_appliance(settings)
    customer_app, _ = cli.build_apps(settings, store)
    with TestClient(customer_app) as client:
        assert '<img class="logo" src="/static/favicon.svg?v=' in client.get("/").text
        assert client.get("/branding/logo.svg").status_code == 404
    store.close()
