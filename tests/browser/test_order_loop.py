"""The whole loop in Debian's chromium: a customer designs and orders, a jeweler asks for
a change, the customer replies and resubmits, the jeweler sees it all."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser

DESCRIPTION = "14k rose gold ring with a 1.5 carat oval lab diamond, tiny diamonds on the band, size 6"


def watch(page, problems: list):
    """Collect console errors (a CSP violation shows up here) and failed scripts."""
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "422" not in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))


def open_desk(browser, staff_url: str, username: str, problems: list):
    """A desktop-sized page of the staff dashboard, logged in through its login form (the
    dashboard's address sends a new visitor there)."""
    desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    watch(desk, problems)
    desk.goto(staff_url + "/")
    desk.fill("#username", username)
    desk.fill("#password", STAFF_PASSWORD)
    desk.click("#login")
    return desk


def test_customer_orders_and_jeweler_requests_a_change(servers, browser, jeweler, tmp_path):
    customer_url, staff_url = servers
    shots = tmp_path / "screenshots"
    shots.mkdir()
    problems: list[str] = []

    shopper = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    watch(shopper, problems)
    shopper.goto(customer_url + "/")
    shopper.fill("#description", DESCRIPTION)
    shopper.screenshot(path=shots / "1-studio.png", full_page=True)
    shopper.click("#generate")
    expect(shopper.locator(".thumb img")).to_have_count(4, timeout=30_000)
    expect(shopper.locator("#metal")).to_have_value("14k_rose")
    expect(shopper.locator("#ring_size")).to_have_value("6")
    shopper.screenshot(path=shots / "2-concepts.png", full_page=True)

    before = shopper.inner_text("#quote-total")
    shopper.select_option("#metal", "platinum")
    expect(shopper.locator("#quote-total")).not_to_have_text(before, timeout=10_000)
    after = shopper.inner_text("#quote-total")
    expect(shopper.locator("#quote")).to_contain_text("platinum 950")

    shopper.locator(".thumb").nth(2).click()
    expect(shopper.locator(".thumb").nth(2)).to_have_class(re.compile("chosen"))
    shopper.fill("#order-name", "Ana Test")
    shopper.fill("#order-email", "ana@example")                      # a typo first
    shopper.click("#place-order")
    expect(shopper.locator("#order .field-error")).to_contain_text("e-mail")
    expect(shopper.locator("#order-name")).to_have_value("Ana Test")  # nothing typed is lost
    shopper.fill("#order-email", "ana@example.com")
    shopper.click("#place-order")
    shopper.wait_for_url(re.compile(r"/o/[^/]+"), timeout=10_000)
    expect(shopper.locator("h1").first).to_contain_text("order #1001 is received")
    expect(shopper.locator("#quote-total")).to_have_text(after)
    order_url = shopper.url.split("?")[0]
    shopper.screenshot(path=shots / "3-order-placed.png", full_page=True)

    desk = open_desk(browser, staff_url, jeweler, problems)
    expect(desk.locator(".order-row")).to_have_count(1)
    expect(desk.locator(".order-row")).to_contain_text("Ana Test")
    # Same host name, other port: the staff cookies never go to the customer app, and no
    # script on either can read them.
    assert {c["name"] for c in desk.context.cookies(staff_url + "/staff/")} == {"diamra_staff_session",
                                                                               "diamra_staff_csrf"}
    assert desk.context.cookies(customer_url + "/") == []
    assert desk.context.cookies(customer_url + "/api/v1/orders/x") == []
    assert desk.evaluate("document.cookie") == ""
    desk.screenshot(path=shots / "4-inbox.png", full_page=True)
    desk.click("text=#1001")
    expect(desk.locator("#customer-words")).to_have_text(DESCRIPTION)
    expect(desk.locator("#staff-total")).to_have_text(after)
    desk.fill("#request-changes-body", "Could we try a thinner band? It would balance the oval.")
    desk.click("#do-request-changes")
    expect(desk.locator("#order-status")).to_have_text("Changes requested")

    shopper.goto(order_url)
    expect(shopper.locator("#order-status")).to_have_text("Changes requested")
    expect(shopper.locator("#timeline")).to_contain_text("thinner band")
    shopper.fill("#reply", "Yes please, thinner is lovely.")
    shopper.click("#send-reply")
    expect(shopper.locator("#timeline")).to_contain_text("Yes please, thinner is lovely.")
    shopper.screenshot(path=shots / "5-customer-reply.png", full_page=True)

    desk.reload()
    expect(desk.locator("#order-panel")).to_contain_text("Yes please, thinner is lovely.")
    desk.screenshot(path=shots / "6-jeweler-sees-reply.png", full_page=True)

    shopper.click("text=Revise your design")
    shopper.fill("#instruction", "thinner band")
    shopper.click("text=Refine")
    expect(shopper.locator(".round h2").first).to_contain_text("Round 2", timeout=30_000)
    expect(shopper.locator(".thumb img")).to_have_count(8, timeout=30_000)
    expect(shopper.locator("#band_width_mm")).to_have_value("1.5")
    shopper.locator(".thumb").first.click()
    expect(shopper.locator(".thumb").first).to_have_class(re.compile("chosen"))
    shopper.click("text=Resubmit my order")
    expect(shopper.locator("#order-status")).to_have_text("Received — waiting for the jeweler")

    desk.reload()
    expect(desk.locator("#order-status")).to_have_text("Received — waiting for the jeweler")
    expect(desk.locator("h1").first).to_contain_text("version 2")
    desk.screenshot(path=shots / "7-jeweler-revision.png", full_page=True)
    print(f"screenshots: {shots}")
    assert problems == []
