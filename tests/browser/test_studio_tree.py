"""The studio's version tree, guided steps and ring-size guide in Debian's chromium: a
customer branches from a concept, asks for something a little different, undoes, compares
two concepts, starts a round from a photo; another chooses a piece step by step and finds
a ring size."""


import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from tests.browser.test_order_loop import watch

pytestmark = pytest.mark.browser


def test_branch_more_like_this_undo_compare_and_a_photo_round(servers, browser, tmp_path):
    customer_url, _ = servers
    problems: list[str] = []
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    watch(page, problems)
    page.goto(customer_url + "/")
    page.fill("#description", "14k rose gold ring with a 1.5 carat oval lab diamond, size 6")
    page.click("#generate")
    expect(page.locator("#round-1 .thumb img")).to_have_count(4, timeout=30_000)

    # Branch: choose concept 3, then "a little different" from it.
    page.locator("#round-1 .thumb").nth(2).click()
    expect(page.locator("#round-1 .thumb").nth(2)).to_have_attribute("aria-pressed", "true")
    page.click("#more-little")
    expect(page.locator("#round-2 .thumb img")).to_have_count(4, timeout=30_000)
    expect(page.locator("#round-2 .round-origin")).to_contain_text("round 1, concept 3")
    expect(page.locator("#round-2 .round-how")).to_contain_text("A little different")

    # Words that change the piece: the panel and the price move with the round.
    before = page.inner_text("#quote-total")
    page.fill("#instruction", "make it platinum")
    page.click("#refine")
    expect(page.locator("#round-3 .thumb img")).to_have_count(4, timeout=30_000)
    expect(page.locator("#metal")).to_have_value("platinum")
    expect(page.locator("#quote-total")).not_to_have_text(before)

    # Undo: back to the concept round 3 came from, with its materials and price.
    page.click("#undo")
    expect(page.locator("#tree-message")).to_contain_text("Back to round 2, concept 1")
    expect(page.locator("#metal")).to_have_value("14k_rose")
    expect(page.locator("#quote-total")).to_have_text(before)
    expect(page.locator("#round-2 .thumb").first).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=tmp_path / "tree.png", full_page=True)

    # Compare the chosen concept with one of round 3.
    page.locator("#round-3 .concept-link").first.click()
    expect(page.locator("#differences")).to_contain_text("the metal")
    expect(page.locator(".compare-side")).to_have_count(2)
    page.screenshot(path=tmp_path / "compare.png", full_page=True)
    page.locator("#side-b button[type=submit]").click()                   # go with the platinum one
    expect(page.locator("#metal")).to_have_value("platinum")

    # A round from a photo: the photo is shown beside its concepts.
    photo = tmp_path / "photo.png"
    picture = Image.new("RGB", (400, 400), (40, 90, 200))
    ImageDraw.Draw(picture).ellipse([80, 80, 320, 320], outline=(0, 0, 0), width=16)
    picture.save(photo)
    page.set_input_files("#photo", str(photo))
    page.select_option("#photo-strength", "little")
    page.click("text=Use this photo")
    expect(page.locator("#round-4 .reference img")).to_be_visible(timeout=30_000)
    expect(page.locator("#round-4 .thumb img")).to_have_count(4, timeout=30_000)
    expect(page.locator("#round-4 .round-origin")).to_contain_text("from your photo")
    natural = page.eval_on_selector("#round-4 .reference img", "img => img.naturalWidth")
    assert natural == 400
    page.screenshot(path=tmp_path / "photo-round.png", full_page=True)
    assert not problems, problems


def test_guided_steps_and_the_ring_size_guide(servers, browser, tmp_path):
    customer_url, _ = servers
    problems: list[str] = []
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    watch(page, problems)
    page.goto(customer_url + "/")
    page.click("#guided-start")
    page.check("input[name=piece][value=ring]")
    page.click("#guided-next")
    page.check("input[name=metal][value='18k_yellow']")
    page.click("#guided-next")
    page.check("input[name=stone][value=sapphire]")
    page.check("input[name=accents][value=halo]")
    page.click("#guided-next")
    page.check("input[name=shape][value=cushion]")
    page.check("input[name=carat][value='2']")
    page.click("#guided-next")
    expect(page.get_by_text("Not sure? Find your size")).to_be_visible()
    page.check("input[name=size][value='5.5']")
    page.click("#guided-next")
    expect(page.locator("#review-materials")).to_contain_text("cushion")
    expect(page.locator("#review-materials")).to_contain_text("US 5.5")
    page.screenshot(path=tmp_path / "guided-review.png", full_page=True)
    page.get_by_role("link", name="Back").click()                        # Back keeps what was chosen
    expect(page.locator("input[name=size][value='5.5']")).to_be_checked()
    page.click("#guided-next")
    page.click("#guided-create")
    expect(page.locator(".thumb img")).to_have_count(4, timeout=30_000)
    expect(page.locator("#metal")).to_have_value("18k_yellow")
    expect(page.locator("#ring_size")).to_have_value("5.5")

    # The ring-size guide from the materials panel puts the measured size on the design.
    page.click("a.size-help")
    page.fill("#diameter", "17.3")
    page.click("#measure-submit")
    expect(page.locator("#size-result")).to_contain_text("US 7")
    page.click("#use-size")
    expect(page.locator("#ring_size")).to_have_value("7")
    page.goto(customer_url + "/ring-size")
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible() and page.locator("#sizer").is_visible()
    width = page.eval_on_selector(".calibration svg", "svg => svg.getBoundingClientRect().width")
    assert abs(width - 50 / 25.4 * 96) < 1                              # 50 mm at the CSS 96 px per inch
    page.screenshot(path=tmp_path / "sizer-print.png", full_page=True)
    assert not problems, problems
