"""The jeweler's desk in Debian's chromium: the inbox finds an order by a word and shows
what is new, the order page cancels only behind a reason and a tick, an admin undoes it,
and a customer finds a lost link from the site's header."""

import os

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_order_loop import open_desk, watch
from tests.live import wait_for_job_over_http

pytestmark = pytest.mark.browser


def place(customer_url, description, name, email):
    design = httpx.post(customer_url + "/api/v1/designs", json={"description": description}).json()
    image_id = wait_for_job_over_http(customer_url, design["job"]["id"])["images"][0]["id"]
    return httpx.post(f"{customer_url}/api/v1/designs/{design['id']}/order", json={
        "image_id": image_id, "spec_revision": design["spec_revision"], "name": name, "email": email}).json()


def test_the_desk_finds_cancels_and_undoes(servers, browser, jeweler, tmp_path):
    customer_url, staff_url = servers
    shots = os.environ.get("DIAMRA_SHOTS") or tmp_path
    first = place(customer_url, "platinum ring with a 1 carat round diamond", "Ana Lima", "ana@example.com")
    second = place(customer_url, "yellow gold pendant with a pear sapphire", "Bo Chen", "bo@example.com")
    problems: list[str] = []
    desk = open_desk(browser, staff_url, jeweler, problems)
    expect(desk.locator(".order-row.unread")).to_have_count(2)
    expect(desk.locator("#count-submitted")).to_have_text("2")
    expect(desk.locator("#mail-off")).to_be_visible()
    desk.screenshot(path=f"{shots}/desk-inbox.png", full_page=True)

    desk.fill("#inbox-q", "sapphire")
    desk.keyboard.press("Enter")
    expect(desk.locator(".order-row")).to_have_count(1)
    expect(desk.locator(".order-row")).to_contain_text("Bo Chen")
    desk.click(f"text=#{second['number']}")
    expect(desk.locator("#order-status")).to_have_text("Received — waiting for the jeweler")
    select = desk.locator("#status-select option")
    assert "Cancelled" not in " ".join(select.all_inner_texts())

    desk.click("#cancel-zone summary")
    desk.fill("#cancel-body", "The customer called to cancel.")
    desk.click("#do-cancel")                       # the browser stops it: the tick is required
    expect(desk.locator("#order-status")).to_have_text("Received — waiting for the jeweler")
    desk.check("#cancel-confirm")
    desk.click("#do-cancel")
    expect(desk.locator("#order-status")).to_have_text("Cancelled")
    expect(desk.locator("#order-panel")).to_contain_text("The customer called to cancel.")
    desk.screenshot(path=f"{shots}/desk-cancelled.png", full_page=True)
    desk.check("#undo-confirm")
    desk.click("#do-undo-cancel")
    expect(desk.locator("#order-status")).to_have_text("Received — waiting for the jeweler")

    desk.click("#work-order-link")
    expect(desk.locator("h1")).to_have_text(f"Work order #{second['number']}")
    expect(desk.locator(".wo-qr svg")).to_be_visible()
    desk.screenshot(path=f"{shots}/work-order.png", full_page=True)
    pdf = desk.pdf(path=f"{shots}/work-order.pdf", format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000                # the concept image is in it

    desk.goto(staff_url + "/staff/")
    expect(desk.locator(".order-row.unread")).to_have_count(1)      # the one opened is read
    expect(desk.locator(".order-row.unread")).to_contain_text(f"#{first['number']}")

    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    watch(phone, problems)
    phone.goto(customer_url + "/")
    phone.click("text=Find my order")
    phone.fill("#find-email", "ana@example.com")
    phone.click("#find-send")
    expect(phone.locator("#find-answer, .banner")).to_contain_text("does not send e-mail")
    phone.screenshot(path=f"{shots}/find-my-order-phone.png", full_page=True)
    phone.goto(f"{customer_url}/o/{first['token']}/quote")
    expect(phone.locator("#quote-total")).to_be_visible()
    quote_pdf = phone.pdf(path=f"{shots}/quote.pdf", format="A4")
    assert quote_pdf.startswith(b"%PDF") and len(quote_pdf) > 20_000
    phone.screenshot(path=f"{shots}/quote-phone.png", full_page=True)
    assert problems == []


def test_the_bench_works_an_order_through_and_the_customer_approves_the_cad(servers, browser, jeweler, tmp_path):
    import io

    from PIL import Image
    customer_url, staff_url = servers
    shots = os.environ.get("DIAMRA_SHOTS") or tmp_path
    placed = place(customer_url, "rose gold ring, oval lab diamond about 1.5 carat", "Ana Lima", "ana@example.com")
    n = placed["number"]
    render = tmp_path / "cad-render.png"
    buffer = io.BytesIO()
    Image.new("RGB", (600, 600), (210, 170, 120)).save(buffer, format="PNG")
    render.write_bytes(buffer.getvalue())
    problems: list[str] = []
    desk = open_desk(browser, staff_url, jeweler, problems)
    desk.goto(f"{staff_url}/staff/orders/{n}")
    desk.click("#do-accept")
    expect(desk.locator("#order-status")).to_have_text("Accepted")
    desk.select_option("#status-select", "in_production")
    desk.click("#do-status")
    expect(desk.locator("#order-status")).to_have_text("In production")
    desk.reload()
    desk.select_option("#stage-select", "cad")
    desk.click("#do-stage")
    expect(desk.locator("#stage")).to_have_text("CAD / design approval")
    desk.fill("#due_date", "2030-01-15")
    desk.select_option("#assigned_to", jeweler)
    desk.click("#do-plan")
    expect(desk.locator("#due-date")).to_have_text("2030-01-15")
    desk.fill("#deposit-amount", "500")
    desk.select_option("#deposit-method", "card")
    desk.click("#do-deposit")
    expect(desk.locator("#deposit-state")).to_contain_text("received $500.00")
    desk.set_input_files("#attach-file", str(render))
    desk.select_option("#attach-kind", "cad")
    desk.check("#attach-shown")
    desk.click("#do-attach")
    expect(desk.locator("#attachments")).to_contain_text("awaiting approval")
    desk.screenshot(path=f"{shots}/desk-bench.png", full_page=True)

    shopper = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    watch(shopper, problems)
    shopper.goto(f"{customer_url}/o/{placed['token']}")
    expect(shopper.locator("#shared-files img")).to_be_visible()
    shopper.click("#shared-files button")
    expect(shopper.locator("#shared-files .ok")).to_have_text("You approved this design.")
    shopper.screenshot(path=f"{shots}/customer-approved-cad.png", full_page=True)

    desk.reload()
    expect(desk.locator("#attachments")).to_contain_text("approved")
    desk.goto(staff_url + "/staff/people")
    desk.fill("#new-username", "polisher")
    desk.fill("#new-password", "a long first password")
    desk.click("#do-add-person")
    expect(desk.locator("#person-polisher")).to_be_visible()
    desk.goto(staff_url + "/staff/audit")
    expect(desk.locator("#audit")).to_contain_text("user added")
    desk.screenshot(path=f"{shots}/audit.png", full_page=True)
    assert problems == []
