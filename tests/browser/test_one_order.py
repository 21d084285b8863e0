"""In Debian's chromium: a double click on Send, and Back to the design then Send again,
each make one order; a budget suggestion is one tap, and the panel, price and budget note
change in place."""

import re

import pytest
from playwright.sync_api import expect

from appliance.studio import orders

pytestmark = pytest.mark.browser


def test_back_and_resend_makes_one_order_and_a_budget_tap_applies_in_place(servers, browser, store):
    customer_url, _ = servers
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(customer_url + "/")
    page.fill("#description", "18k white gold solitaire, 1.5 carat round natural diamond, size 6, budget under $6,000")
    page.click("#generate")
    expect(page.locator(".thumb img")).to_have_count(4, timeout=30_000)
    expect(page.locator("#budget-note")).to_contain_text("over it")
    before = page.inner_text("#quote-total")
    page.locator(".budget-option", has_text="Lab-grown").click()
    expect(page.locator("#quote-total")).not_to_have_text(before, timeout=10_000)
    expect(page.locator("#budget-note")).to_contain_text("fits it")
    expect(page.locator("#stones-0-type")).to_have_value("lab_diamond")
    expect(page.locator(".understood li", has_text="Centre stone")).to_contain_text("your choice")

    page.fill("#order-name", "Ana Test")
    page.fill("#order-email", "ana@example.com")
    page.locator("#place-order").dblclick()
    expect(page).to_have_url(re.compile(r"/o/"), timeout=10_000)
    first = page.url.split("?")[0]
    page.go_back()
    page.wait_for_url(re.compile(r"/d/"))
    page.fill("#order-name", "Ana Test")
    page.fill("#order-email", "ana@example.com")
    page.click("#place-order")
    expect(page).to_have_url(re.compile(r"/o/"), timeout=10_000)
    assert page.url.split("?")[0] == first
    assert len(orders.list_orders(store, None)) == 1
    assert not errors, errors
