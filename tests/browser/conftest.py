import shutil

import pytest

from appliance import cli
from tests.live import LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
def servers(settings, store, running_worker):
    """The customer and staff apps on real loopback ports, sharing one data folder."""
    customer_app, staff_app = cli.build_apps(settings, store)
    with LiveServer(customer_app) as customer, LiveServer(staff_app) as staff:
        yield customer.url, staff.url


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()
