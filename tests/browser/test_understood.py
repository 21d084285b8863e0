"""'What we understood' in Debian's chromium: every guess is marked, one tap puts the
customer in the field that changes it, and the list follows the change; at phone width
each fact is a 44 px touch target."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WORDS = "a blue stone in white gold, size N, budget under $2,000"


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}])
def test_a_guess_is_one_tap_from_its_field_and_the_list_follows_the_change(servers, browser, viewport):
    customer_url, _ = servers
    page = browser.new_context(viewport=viewport).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(customer_url + "/")
    page.fill("#description", WORDS)
    page.click("#generate")
    stone = page.locator(".understood li", has_text="Centre stone")
    expect(stone).to_have_class(re.compile("fact-guessed"))
    expect(stone).to_contain_text("blue sapphire")
    expect(stone).to_contain_text("our guess: from the colour or month")
    expect(page.locator(".understood li", has_text="Ring size")).to_contain_text("UK N")
    expect(page.locator(".understood li", has_text="Budget")).to_contain_text("2,000")
    box = stone.locator("a").bounding_box()
    assert box["height"] >= 44 and box["width"] <= viewport["width"]
    stone.locator("a").click()
    expect(page.locator("#stones-0-type")).to_be_focused()
    page.select_option("#stones-0-type", "tanzanite")
    changed = page.locator(".understood li", has_text="Centre stone")
    expect(changed).to_have_class(re.compile("fact-changed"), timeout=10_000)
    expect(changed).to_contain_text("tanzanite")
    expect(changed).to_contain_text("your choice")
    assert not errors, errors
