"""Files from the bench on the order's timeline: checked like a customer's photo, a PDF
only ever downloaded, shown to the customer only when marked so, and a CAD render the
customer approves on their page."""

import io
import tarfile

import pytest
from PIL import Image

from appliance.ops import backups
from tests.http.test_bad_input import png_with_chunk
from tests.http.test_staff_api import order  # noqa: F401  (the fixture)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png(size=(800, 600), colour=(190, 150, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def attach(client, headers, number, data, name="render.png", **fields):
    return client.post(f"/api/v1/orders/{number}/attachments", headers=headers,
                       files={"file": (name, data, "application/octet-stream")}, data=fields)


def test_a_cad_render_shown_to_the_customer_waits_for_their_approval(customer, staff_session, order, settings):  # noqa: F811
    client, headers = staff_session
    made = attach(client, headers, order["number"], png(), kind="cad", shown_to_customer="yes",
                  note="Side view with the thinner band")
    assert made.status_code == 201, made.text
    cad = made.json()
    assert cad["kind"] == "cad" and cad["media_type"] == "image/png" and cad["shown_to_customer"] is True
    seen = customer.get(f"/api/v1/orders/{order['token']}").json()
    (shared,) = seen["attachments"]
    assert shared["awaits_approval"] is True and shared["note"] == "Side view with the thinner band"
    picture = customer.get(shared["url"])
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert 'id="approve-' in customer.get(f"/o/{order['token']}").text
    approved = customer.post(f"/api/v1/orders/{order['token']}/attachments/{cad['id']}/approve")
    assert approved.status_code == 200 and approved.json()["attachments"][0]["awaits_approval"] is False
    assert approved.json()["events"][-1]["kind"] == "approval"
    again = customer.post(f"/api/v1/orders/{order['token']}/attachments/{cad['id']}/approve")
    assert again.status_code == 409
    staff_view = client.get(f"/api/v1/orders/{order['number']}").json()
    assert staff_view["attachments"][0]["approved_at"]
    result = backups.create_backup(settings)
    with tarfile.open(result.path) as archive:
        assert any(n.startswith(f"attachments/{order['number']}/") for n in archive.getnames())


def test_a_bench_only_photo_stays_with_the_staff(customer, staff_session, order):  # noqa: F811
    client, headers = staff_session
    photo = attach(client, headers, order["number"], png(), kind="photo").json()
    assert photo["shown_to_customer"] is False
    assert customer.get(f"/api/v1/orders/{order['token']}").json()["attachments"] == []
    assert customer.get(f"/o/{order['token']}/attachments/{photo['id']}").status_code == 404
    assert client.get(f"/attachments/{photo['id']}").status_code == 200
    events = client.get(f"/api/v1/orders/{order['number']}").json()["events"]
    assert events[-1]["kind"] == "attachment" and "bench only" in events[-1]["body"]


def test_a_pdf_is_only_ever_downloaded(customer, staff_session, order):  # noqa: F811
    client, headers = staff_session
    pdf = attach(client, headers, order["number"], PDF, name="../../quote <draft>.pdf", shown_to_customer="yes").json()
    assert pdf["kind"] == "pdf" and pdf["filename"] == "quote _draft_.pdf"
    for answer in (client.get(f"/attachments/{pdf['id']}"), customer.get(f"/o/{order['token']}/attachments/{pdf['id']}")):
        assert answer.status_code == 200 and answer.content == PDF
        assert answer.headers["content-disposition"].startswith("attachment") and answer.headers[
            "content-security-policy"] == "sandbox"
    cannot = customer.post(f"/api/v1/orders/{order['token']}/attachments/{pdf['id']}/approve")
    assert cannot.status_code == 409


@pytest.mark.parametrize("data,message", [
    (PDF.replace(b"%%EOF", b""), "incomplete"),
    (b"just some text", "PNG, JPEG or WebP"),
    (b"", "empty"),
    (png_with_chunk(b"zTXt", b"k\x00\x00" + __import__("zlib").compress(b"a" * 50_000_000)), "too large"),
])
def test_a_file_that_is_not_a_clean_picture_or_pdf_names_the_field(staff_session, order, data, message):  # noqa: F811
    client, headers = staff_session
    refused = attach(client, headers, order["number"], data, kind="photo")
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "file"
    assert message in refused.json()["detail"][0]["msg"]
    assert client.get(f"/api/v1/orders/{order['number']}").json()["attachments"] == []


def test_a_picture_needs_its_kind_and_the_page_form_works(staff_session, order):  # noqa: F811
    client, headers = staff_session
    refused = attach(client, headers, order["number"], png())
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "kind"
    page = client.post(f"/orders/{order['number']}/attachments", files={"file": ("p.png", png(), "image/png")},
                       data={"kind": "photo", "csrf_token": headers["X-CSRF-Token"]}, follow_redirects=False)
    assert page.status_code == 303
    shown = client.get(f"/orders/{order['number']}").text
    assert "p.png" in shown and "bench only" in shown
    no_file = client.post(f"/orders/{order['number']}/attachments", data={"csrf_token": headers["X-CSRF-Token"]})
    assert no_file.status_code == 422 and 'id="attach-error"' in no_file.text


def test_another_orders_token_cannot_reach_a_file(customer, staff_session, order, running_worker):  # noqa: F811
    client, headers = staff_session
    shared = attach(client, headers, order["number"], png(), kind="photo", shown_to_customer="yes").json()
    from tests.http.test_inbox import place
    other = place(customer, "silver bangle", "Bo", "bo@example.com")
    assert customer.get(f"/o/{other['token']}/attachments/{shared['id']}").status_code == 404
    assert customer.post(f"/api/v1/orders/{other['token']}/attachments/{shared['id']}/approve").status_code == 404


def test_the_customer_prints_their_quote_without_the_cost_side(customer, order):  # noqa: F811
    page = customer.get(f"/o/{order['token']}/quote")
    assert page.status_code == 200
    text = page.text
    assert f"Quote for order #{order['number']}" in text and 'id="quote-total"' in text and "<svg" in text
    assert not any(word in text.lower() for word in ("cost", "margin", "markup"))
    assert 'href="/o/' + order["token"] + '/quote"' in customer.get(f"/o/{order['token']}").text
    assert customer.get("/o/nope/quote").status_code == 404
