"""The in-store kiosk in Debian's chromium: a screen paired once; a customer designs and
fills in her contact, walks away, and "Still there?" counts down to a fresh start page
that keeps nothing of her (no page to go Back to, no cookie but the kiosk's, empty
storage); the same a few seconds after an order; her design handed to a phone by the QR
code's link (a kiosk on loopback shows none: no phone could open it); the start page
listing her designs starts over by itself too; every link a kiosk shows goes somewhere,
without a history entry; every control touch-sized on a portrait and a landscape screen."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from appliance.config import load_settings
from appliance.studio import kiosks, orders
from tests.browser.conftest import ARGS, CHROMIUM

pytestmark = pytest.mark.browser

IDLE_SECONDS = 4            # the countdown and the order confirmation follow it (never longer)
CUSTOMER_WORDS = "18k rose gold ring with an oval sapphire, tiny diamonds on the band"
CONTACT = {"#order-name": "Ana Kiosk", "#order-email": "ana.kiosk@example.com", "#order-phone": "+1 555 0199",
           "#order-notes": "Engraving: for M, with love"}
# The store's network name for the appliance, as a kiosk on another machine would open it
# (the browser resolves it to the test server's loopback address).
LAN_HOST = "diamra.store.test"


@pytest.fixture
def settings(tmp_path):
    return load_settings(tmp_path / "data", generator="sketch", image_size=256, kiosk_idle_seconds=IDLE_SECONDS)


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where the screenshots go: $DIAMRA_SCREENSHOTS to look at them, else the test's folder."""
    folder = Path(os.environ.get("DIAMRA_SCREENSHOTS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def paired_page(browser, store, customer_url, viewport=(1080, 1920), name="front-counter"):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, has_touch=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    added = kiosks.add(store, name, actor="test")
    page.goto(f"{customer_url}/kiosk/pair/{added.pairing_token}")
    expect(page.locator("h1")).to_have_text(f"Pair this screen as kiosk “{name}”?")
    page.click("#kiosk-pair")
    expect(page).to_have_url(f"{customer_url}/kiosk")
    return page


@pytest.fixture
def lan_browser():
    """Chromium that reaches the test server by the store's network name too."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=[*ARGS, f"--host-resolver-rules=MAP {LAN_HOST} 127.0.0.1"])
        yield browser
        browser.close()


def start_and_fill(page):
    """Customer 1 describes a piece, waits for its concepts and fills in her contact."""
    page.fill("#kiosk-description", CUSTOMER_WORDS)
    page.click("#kiosk-generate")
    expect(page).to_have_url(re.compile(r"/d/[A-Za-z0-9_-]+$"), timeout=15_000)
    expect(page.locator(".thumb img")).to_have_count(4, timeout=30_000)
    for selector, value in CONTACT.items():
        page.fill(selector, value)
    page.evaluate("""() => { localStorage.setItem('customer', 'Ana'); sessionStorage.setItem('draft', 'Ana');
                            document.cookie = 'customer_pref=ana; path=/'; }""")
    page.context.add_cookies([{"name": "customer_session", "value": "ana", "url": page.url.split("/d/")[0],
                               "httpOnly": True}])


def assert_nothing_left_of_customer_1(page, customer_url, store, history_length):
    expect(page).to_have_url(f"{customer_url}/kiosk")
    expect(page.locator("#kiosk-description")).to_have_value("")
    body = page.inner_text("body")
    assert "Ana" not in body and CUSTOMER_WORDS not in body
    assert "Continue your design" not in body                       # the server forgot her designs
    assert {c["name"] for c in page.context.cookies()} == {"diamra_kiosk"}
    assert page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]
    assert page.evaluate("history.length") == history_length         # nothing was ever pushed
    page.go_back()
    page.wait_for_load_state()
    assert "/d/" not in page.url and "/o/" not in page.url
    if page.url.startswith(customer_url):
        assert "Ana" not in page.content()
    for selector in CONTACT:
        assert page.locator(selector).count() == 0


def test_walking_away_starts_over_and_leaves_nothing_behind(servers, browser, store):
    customer_url, _ = servers
    page = paired_page(browser, store, customer_url)
    cookie = next(c for c in page.context.cookies() if c["name"] == "diamra_kiosk")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    history_length = page.evaluate("history.length")
    start_and_fill(page)
    visit = kiosks.paired(store, cookie["value"]).visit_id

    dialog = page.locator("#kiosk-idle")
    expect(dialog).to_be_visible(timeout=(IDLE_SECONDS + 3) * 1000)
    expect(dialog).to_contain_text("Still there?")
    expect(page.locator("#kiosk-idle-count")).to_have_attribute("aria-live", "assertive")
    page.click("#kiosk-keep-going")                                     # she is: nothing changes
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/d/"))
    expect(page.locator("#order-name")).to_have_value(CONTACT["#order-name"])

    expect(dialog).to_be_visible(timeout=(IDLE_SECONDS + 3) * 1000)   # then she walks away
    page.wait_for_url(f"{customer_url}/kiosk", timeout=(IDLE_SECONDS + 6) * 1000)
    assert_nothing_left_of_customer_1(page, customer_url, store, history_length)
    assert kiosks.paired(store, cookie["value"]).visit_id != visit
    assert not page.errors, page.errors


def test_an_order_at_the_kiosk_shows_its_number_then_starts_over(servers, browser, store, shots):
    customer_url, _ = servers
    page = paired_page(browser, store, customer_url)
    history_length = page.evaluate("history.length")
    start_and_fill(page)
    page.click("#place-order")
    expect(page).to_have_url(re.compile(r"/o/[A-Za-z0-9_-]+\?placed=1$"), timeout=10_000)
    number = orders.list_orders(store, None)[0]["number"]
    expect(page.locator("#kiosk-done")).to_be_visible()
    expect(page.locator("#kiosk-order-number")).to_have_text(str(number))
    page.screenshot(path=shots / "kiosk-order-placed-1080x1920.png")
    page.wait_for_url(f"{customer_url}/kiosk", timeout=(IDLE_SECONDS + 6) * 1000)
    assert_nothing_left_of_customer_1(page, customer_url, store, history_length)
    assert len(orders.list_orders(store, None)) == 1
    assert not page.errors, page.errors


def test_start_over_and_done_act_at_once(servers, browser, store):
    customer_url, _ = servers
    page = paired_page(browser, store, customer_url)
    history_length = page.evaluate("history.length")
    start_and_fill(page)
    page.click("#kiosk-start-over")
    page.wait_for_url(f"{customer_url}/kiosk", timeout=5_000)
    assert_nothing_left_of_customer_1(page, customer_url, store, history_length)


def test_the_qr_code_hands_the_design_to_a_phone(servers, lan_browser, store):
    loopback_url, _ = servers
    # On the appliance's own loopback (as the kiosk unit opens it) no phone could open the
    # design's address: no code, a note instead.
    local = paired_page(lan_browser, store, loopback_url, name="on-the-box")
    local.fill("#kiosk-description", CUSTOMER_WORDS)
    local.click("#kiosk-generate")
    expect(local).to_have_url(re.compile(r"/d/"), timeout=15_000)
    expect(local.locator("#kiosk-no-handoff")).to_be_visible()
    expect(local.locator("#kiosk-handoff")).to_have_count(0)
    expect(local.locator("svg.kiosk-qr")).to_have_count(0)

    browser = lan_browser
    customer_url = loopback_url.replace("127.0.0.1", LAN_HOST)
    page = paired_page(browser, store, customer_url)
    page.fill("#kiosk-description", CUSTOMER_WORDS)
    page.click("#kiosk-generate")
    expect(page).to_have_url(re.compile(r"/d/"), timeout=15_000)
    handoff = page.locator("#kiosk-handoff")
    expect(handoff.locator("svg")).to_be_visible()
    url = handoff.get_attribute("data-handoff-url")
    assert url == page.inner_text("#kiosk-handoff-url").strip() == page.url

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    phone.goto(url)
    expect(phone.locator(".words")).to_have_text(CUSTOMER_WORDS)
    expect(phone.locator("#kiosk-bar")).to_have_count(0)              # an ordinary customer's page
    expect(phone.locator("#order-name")).to_be_visible()
    assert phone.url == url



def test_the_pairing_question_is_accessible_and_spends_nothing_until_its_button(servers, browser, store):
    from tests.browser.test_accessibility import AXE, axe_problems, layout_problems
    customer_url, _ = servers
    added = kiosks.add(store, "front-counter", actor="test")
    for viewport in ({"width": 375, "height": 812}, {"width": 1080, "height": 1920}):
        page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()
        page.goto(f"{customer_url}/kiosk/pair/{added.pairing_token}")
        expect(page.locator("#kiosk-pair")).to_be_visible()
        if AXE.is_file():
            assert axe_problems(page) == []
        assert layout_problems(page) == []
        page.context.close()
    assert kiosks.listing(store)[0]["state"] == "waiting for pairing"


def test_the_start_page_listing_her_designs_starts_over_by_itself(servers, browser, store):
    customer_url, _ = servers
    page = paired_page(browser, store, customer_url)
    page.fill("#kiosk-description", CUSTOMER_WORDS)
    page.click("#kiosk-generate")
    expect(page).to_have_url(re.compile(r"/d/"), timeout=15_000)
    page.click(".brand")                                    # back to the start page, then she walks away
    expect(page).to_have_url(f"{customer_url}/kiosk")
    expect(page.locator(".kiosk-continue")).to_contain_text("Continue your design")
    expect(page.locator("#kiosk-idle")).to_be_visible(timeout=(IDLE_SECONDS + 3) * 1000)     # no touch needed
    expect(page.locator(".kiosk-continue")).to_have_count(0, timeout=(IDLE_SECONDS + 6) * 1000)
    expect(page).to_have_url(f"{customer_url}/kiosk")
    assert CUSTOMER_WORDS not in page.inner_text("body")
    assert not page.errors, page.errors


def test_every_link_the_kiosk_shows_goes_there_without_a_history_entry(servers, browser, store):
    customer_url, _ = servers
    page = paired_page(browser, store, customer_url)
    history_length = page.evaluate("history.length")

    def follow(selector: str, url) -> None:
        page.locator(selector).first.click()
        expect(page).to_have_url(url)
        page.wait_for_load_state()
        assert page.evaluate("history.length") == history_length, selector
        expect(page.locator("#kiosk-bar")).to_be_visible()                  # still the kiosk's page

    follow("#guided-start", f"{customer_url}/guided")                       # "Choose step by step"
    follow(".brand", f"{customer_url}/kiosk")
    follow("#ring-size-start", f"{customer_url}/ring-size")
    follow(".brand", f"{customer_url}/kiosk")
    page.fill("#kiosk-description", CUSTOMER_WORDS)
    page.click("#kiosk-generate")
    expect(page).to_have_url(re.compile(r"/d/[A-Za-z0-9_-]+$"), timeout=15_000)
    design_url = page.url
    expect(page.locator(".thumb img")).to_have_count(4, timeout=30_000)
    follow(".concept-link", re.compile(r"/d/[A-Za-z0-9_-]+/compare\?a=.+&b=.+$"))   # "Compare with chosen"
    follow("text=Back to your design", design_url)
    follow(".size-help", re.compile(r"/ring-size\?design=[A-Za-z0-9_-]+$"))     # "Not sure of the size? Find it"
    follow("text=Back to your design", design_url)
    assert not page.errors, page.errors


# Every control a finger may need: its box (a radio's is its chip) is at least 44 px each way.
UNDERSIZED = """() => {
  const small = [];
  for (const el of document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex="0"]')) {
    if (el.type === 'hidden' || !el.getClientRects().length) continue;
    const target = (el.type === 'radio' || el.type === 'checkbox') && el.closest('label') || el;
    const box = target.getBoundingClientRect();
    if (box.width < 44 || box.height < 44) small.push(`${el.tagName}#${el.id} ${box.width}x${box.height}`);
  }
  return small;
}"""


@pytest.mark.parametrize("width,height", [(1080, 1920), (1920, 1080)])
def test_the_kiosk_is_touch_sized_and_keyboard_friendly_portrait_and_landscape(servers, browser, store, shots, width,
                                                                              height):
    customer_url, _ = servers
    page = paired_page(browser, store, customer_url, viewport=(width, height), name=f"screen-{width}")
    page.screenshot(path=shots / f"kiosk-start-{width}x{height}.png")
    assert page.evaluate(UNDERSIZED) == []
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    # A touch keyboard rises from the bottom (about 40% of the screen): the box and the
    # button stay above it.
    box = page.locator("#kiosk-description").bounding_box()
    button = page.locator("#kiosk-generate").bounding_box()
    assert box["y"] < 0.3 * height and button["y"] + button["height"] < 0.6 * height
    assert page.locator(".brand").inner_text().strip().upper() == "DIAMRA STUDIO"

    page.fill("#kiosk-description", CUSTOMER_WORDS)
    page.click("#kiosk-generate")
    expect(page.locator(".thumb img")).to_have_count(4, timeout=30_000)
    page.screenshot(path=shots / f"kiosk-design-{width}x{height}.png")
    for selector in ("#kiosk-start-over", "#place-order", "#order-name"):
        size = page.locator(selector).bounding_box()
        assert size["width"] >= 44 and size["height"] >= 44, selector
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    expect(page.locator("#kiosk-idle")).to_be_visible(timeout=(IDLE_SECONDS + 3) * 1000)
    page.screenshot(path=shots / f"kiosk-still-there-{width}x{height}.png")
    assert not page.errors, page.errors
