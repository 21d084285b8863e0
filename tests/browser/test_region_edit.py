"""The region painter in Debian's chromium: paint over part of a concept, say what it
should become, and a round is queued that redraws that part (the mask and the parent
travel with the job); words that change the piece change the panel and the price on the
page at once, and the order carries them."""

import re

import pytest
from playwright.sync_api import expect

from appliance.studio import jobs, orders, uploads


def job_images(store, job_id: str) -> list[str]:
    return [row["id"] for row in jobs.images_of(store, job_id)]

pytestmark = pytest.mark.browser


def test_painting_a_region_queues_a_masked_round(servers, browser, store, tmp_path):
    customer_url, _ = servers
    problems: list[str] = []
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(customer_url + "/")
    page.fill("#description", "18k yellow gold ring with a 1 carat round sapphire, size 7")
    page.click("#generate")
    expect(page.locator(".thumb img")).to_have_count(4, timeout=30_000)
    design_id = re.search(r"/d/([^/?]+)", page.url).group(1)

    page.click("#paint summary")
    page.click("#paint-send")
    expect(page.locator("#paint-error")).to_have_text("Paint over the part you would like changed first.")
    canvas = page.locator("#paint-canvas")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    before = page.inner_text("#quote-total")
    page.fill("#paint-instruction", "a 2 carat emerald cut stone")
    page.screenshot(path=tmp_path / "painted.png", full_page=True)
    page.click("#paint-send")
    expect(page.locator("#stones-0-shape")).to_have_value("emerald", timeout=30_000)
    expect(page.locator("#quote-total")).not_to_have_text(before)
    expect(page.locator(".round .round-how").first).to_contain_text("a 2 carat emerald cut stone", timeout=30_000)
    expect(page.locator(".thumb img")).to_have_count(8, timeout=30_000)
    expect(page.locator(".thumb").first).to_have_class(re.compile("chosen"))     # the newest round is chosen
    expect(page.locator("#chosen-outdated")).to_have_count(0)
    page.screenshot(path=tmp_path / "redrawn.png", full_page=True)

    job = jobs.latest_job(store, design_id)
    assert job.mask_id and job.parent_image_id and job.instruction == "a 2 carat emerald cut stone"
    shown_total = page.inner_text("#quote-total")
    page.fill("#order-name", "Ana Test")
    page.fill("#order-email", "ana@example.com")
    page.click("#place-order")
    page.wait_for_url(re.compile(r"/o/"))
    placed = orders.get_order(store, number=1001)
    assert placed["current"]["spec"]["stones"][0]["shape"] == "emerald"
    assert placed["current"]["spec_revision"] == 2 and placed["current"]["image_id"] == job_images(store, job.id)[0]
    assert float(shown_total.replace("$", "").replace(",", "")) == float(placed["current"]["quote"]["total"])
    mask = uploads.get_upload(store, job.mask_id)
    assert mask.kind == "mask" and mask.design_id == design_id
    print(f"screenshots: {tmp_path}")
    assert problems == []
