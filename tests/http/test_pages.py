"""The HTML pages: a plain request gets the page, an HTMX request the fragment; errors
come back beside the field with what was typed; the security headers hold everywhere."""

import re

import pytest

from tests.conftest import STAFF_PASSWORD

HX = {"HX-Request": "true"}
EXAMPLE = "14k rose gold ring with a 1.5 carat oval lab diamond, tiny diamonds on the band, size 6"


def start(customer, worker) -> str:
    response = customer.post("/designs", data={"description": EXAMPLE}, follow_redirects=False)
    assert response.status_code == 303
    worker.run_once()
    return response.headers["location"].rsplit("/", 1)[1]


def test_the_studio_keeps_the_words_and_shows_the_error_beside_the_field(customer):
    response = customer.post("/designs", data={"description": "  "})
    assert response.status_code == 422
    assert 'id="description-error"' in response.text and "Tell us what you would like" in response.text
    refused = customer.post("/designs", data={"description": "a dragon with a unicorn", "piece_type": ""})
    assert refused.status_code == 422 and "a dragon with a unicorn</textarea>" in refused.text


def test_the_design_page_and_its_gallery_fragment(customer, worker):
    design_id = start(customer, worker)
    page = customer.get(f"/d/{design_id}")
    assert page.status_code == 200 and "<html" in page.text and page.text.count('class="thumb ') == 4
    assert "Sketch preview" in page.text and 'id="materials"' in page.text and 'id="quote-total"' in page.text
    fragment = customer.get(f"/d/{design_id}/gallery", headers=HX)
    assert "<html" not in fragment.text and fragment.text.lstrip().startswith('<section id="gallery"')
    assert "hx-trigger" not in fragment.text.split(">")[0]          # done: it stops polling


def test_a_waiting_round_polls_itself_and_shows_its_place(customer):
    response = customer.post("/designs", data={"description": EXAMPLE}, follow_redirects=False)
    gallery = customer.get(response.headers["location"] + "/gallery", headers=HX).text
    head = gallery.split(">")[0]
    assert 'hx-trigger="load delay:500ms"' in head and "Waiting in line" in gallery


def test_editing_materials_returns_the_panel_with_the_new_price(customer, worker):
    design_id = start(customer, worker)
    before = re.search(r'id="quote-total">([^<]+)<', customer.get(f"/d/{design_id}").text).group(1)
    form = {"piece_type": "ring", "metal": "platinum", "ring_size": "6", "band_width_mm": "2", "band_thickness_mm": "1.6",
            "profile": "comfort", "finish": "polished", "stones-0-role": "center", "stones-0-type": "lab_diamond",
            "stones-0-shape": "oval", "stones-0-length_mm": "9.16", "stones-0-width_mm": "6.54", "stones-0-count": "1",
            "stones-0-setting": "prong"}
    fragment = customer.post(f"/d/{design_id}/spec", data=form, headers=HX)
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<section id="materials"')
    after = re.search(r'id="quote-total">([^<]+)<', fragment.text).group(1)
    assert after != before and "platinum 950" in fragment.text


def test_a_bad_material_value_is_kept_and_named_beside_its_field(customer, worker):
    design_id = start(customer, worker)
    form = {"piece_type": "ring", "metal": "14k_rose", "ring_size": "44", "stones-0-role": "center",
            "stones-0-type": "lab_diamond", "stones-0-shape": "oval", "stones-0-length_mm": "9", "stones-0-width_mm": "6"}
    fragment = customer.post(f"/d/{design_id}/spec", data=form, headers=HX)
    assert fragment.status_code == 422
    assert 'id="err-ring_size"' in fragment.text and 'value="44"' in fragment.text
    saved = customer.get(f"/api/v1/designs/{design_id}").json()["spec"]
    assert saved["ring_size"] == 6                                 # nothing half-saved


def test_the_order_form_names_the_bad_field_and_keeps_the_rest(customer, worker):
    design_id = start(customer, worker)
    data = {"name": "Ana Test", "email": "ana@", "phone": "", "notes": "Engraving: A & B", "spec_revision": "1"}
    fragment = customer.post(f"/d/{design_id}/order", data=data, headers=HX)
    assert fragment.status_code == 422 and "does not look like an e-mail" in fragment.text
    assert 'value="Ana Test"' in fragment.text and "Engraving: A &amp; B</textarea>" in fragment.text
    placed = customer.post(f"/d/{design_id}/order", data={**data, "email": "ana@example.com"}, headers=HX)
    assert placed.headers["HX-Redirect"].startswith("/o/")
    page = customer.get(placed.headers["HX-Redirect"])
    assert "order #1001 is received" in page.text


def test_a_customer_reply_returns_the_timeline_fragment(customer, worker):
    design_id = start(customer, worker)
    url = customer.post(f"/d/{design_id}/order", data={"name": "Ana", "email": "ana@example.com", "spec_revision": "1"},
                        follow_redirects=False).headers["location"].split("?")[0]
    fragment = customer.post(url + "/messages", data={"body": "Can it be ready by May?"}, headers=HX)
    assert fragment.text.lstrip().startswith('<section id="timeline"') and "Can it be ready by May?" in fragment.text
    empty = customer.post(url + "/messages", data={"body": ""}, headers=HX)
    assert empty.status_code == 422 and "Please write a message" in empty.text


def test_staff_login_page_flow_with_csrf(staff, jeweler):
    login = staff.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    forged = staff.post("/login", data={"username": jeweler, "password": STAFF_PASSWORD, "csrf_token": "x"},
                        follow_redirects=False)
    assert forged.status_code == 401
    login = staff.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    ok = staff.post("/login", data={"username": jeweler, "password": STAFF_PASSWORD, "csrf_token": token},
                    follow_redirects=False)
    assert ok.status_code == 303
    inbox = staff.get("/")
    assert "Orders" in inbox.text and "hx-headers" in inbox.text


def test_staff_actions_from_the_page(customer, worker, staff, jeweler):
    design_id = start(customer, worker)
    customer.post(f"/d/{design_id}/order", data={"name": "Ana", "email": "ana@example.com", "spec_revision": "1"})
    csrf = staff.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD}).json()["csrf_token"]
    page = staff.get("/orders/1001")
    assert "ana@example.com" in page.text and EXAMPLE in page.text and "Quote, cost and margin" in page.text
    denied = staff.post("/orders/1001/request-changes", data={"body": "thinner"}, headers=HX)
    assert denied.status_code == 403
    panel = staff.post("/orders/1001/request-changes", data={"body": "Thinner band?"}, headers={**HX, "X-CSRF-Token": csrf})
    assert panel.text.lstrip().startswith('<section id="order-panel"') and "Changes requested" in panel.text
    empty = staff.post("/orders/1001/messages", data={"body": ""}, headers={**HX, "X-CSRF-Token": csrf})
    assert empty.status_code == 422 and "Please write a message" in empty.text


@pytest.mark.parametrize("app,path", [("customer", "/"), ("customer", "/d/nope"), ("staff", "/login"),
                                      ("customer", "/api/v1/designs/nope")])
def test_every_response_carries_a_strict_content_security_policy(request, app, path):
    client = request.getfixturevalue(app)
    response = client.get(path)
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert response.headers["referrer-policy"] == "no-referrer" and response.headers["x-frame-options"] == "DENY"


def test_unknown_pages_get_a_friendly_404(customer):
    response = customer.get("/o/not-a-token")
    assert response.status_code == 404 and "No order with that reference" in response.text


def test_the_cancel_button_cancels_the_waiting_round(customer):
    response = customer.post("/designs", data={"description": EXAMPLE}, follow_redirects=False)
    design_id = response.headers["location"].rsplit("/", 1)[1]
    job_id = re.search(r"/jobs/([^/]+)/cancel", customer.get(f"/d/{design_id}").text).group(1)
    fragment = customer.post(f"/d/{design_id}/jobs/{job_id}/cancel", headers=HX)
    assert "That round was cancelled" in fragment.text and "hx-trigger" not in fragment.text.split(">")[0]
    assert customer.get(f"/api/v1/jobs/{job_id}").json()["status"] == "cancelled"
