"""What the customer saw is what the jeweler gets: every change is a new spec revision
shown at once, images know the revision they were drawn from, the chosen concept follows
the newest round, an order names the revision and total it was shown (409 when the design
moved on), one Idempotency-Key makes one order, and the jeweler sees every disagreement."""

import io
import re

from PIL import Image

from tests.conftest import wait_for_job

HX = {"HX-Request": "true"}
WORDS = "18k yellow gold ring with a 1 carat round sapphire, size 7"
SIDES = {"role": "side", "type": "diamond", "shape": "round", "length_mm": 3, "width_mm": 3, "count": 2, "setting": "prong"}


def started(customer) -> dict:
    design = customer.post("/api/v1/designs", json={"description": WORDS}).json()
    wait_for_job(customer, design["job"]["id"])
    return customer.get(f"/api/v1/designs/{design['id']}").json()


def uploaded_mask(customer, design_id: str, size: tuple[int, int], painted: tuple[int, int, int, int]) -> str:
    """A mask of `size` with the `painted` box white (redraw), uploaded; its id."""
    mask = Image.new("L", size, 0)
    mask.paste(255, painted)
    data = io.BytesIO()
    mask.save(data, format="PNG")
    return customer.post(f"/api/v1/designs/{design_id}/masks",
                         files={"file": ("mask.png", data.getvalue(), "image/png")}).json()["id"]


def order_body(design: dict, image_id: str, **extra) -> dict:
    return {"image_id": image_id, "name": "Ana", "email": "ana@example.com",
            "spec_revision": design["spec_revision"], **extra}


def test_starting_a_design_queues_its_first_round_on_the_page_and_in_the_api(customer, running_worker):
    api = customer.post("/api/v1/designs", json={"description": WORDS}).json()
    assert api["job"]["status"] == "queued" and api["spec_revision"] == 1
    page = customer.post("/designs", data={"description": WORDS}, follow_redirects=False)
    design_id = page.headers["location"].rsplit("/", 1)[1]
    for design in (api["id"], design_id):
        job = customer.get(f"/api/v1/designs/{design}").json()
        assert job["spec_revision"] == 1
    assert wait_for_job(customer, api["job"]["id"])["status"] == "done"


def test_a_region_edit_that_changes_the_spec_answers_with_the_new_panel_and_price(customer, running_worker):
    design = started(customer)
    parent = design["images"][0]["id"]
    mask_id = uploaded_mask(customer, design["id"], (256, 256), (100, 100, 160, 160))
    made = customer.post(f"/api/v1/designs/{design['id']}/renders", json={
        "parent_image_id": parent, "mask_id": mask_id, "instruction": "a 2 carat emerald cut stone"}).json()
    assert made["spec_revision"] == 2 and made["spec"]["stones"][0]["shape"] == "emerald"
    assert made["quote"]["total"] != design["quote"]["total"]
    # The page showing revision 1 is told the new panel with its next poll of the gallery.
    gallery = customer.get(f"/d/{design['id']}/gallery?rev=1", headers=HX).text
    assert 'id="materials"' in gallery and 'hx-swap-oob="true"' in gallery
    assert 'name="spec_revision" value="2"' in gallery and made["quote"]["total"] in gallery
    assert 'id="materials"' not in customer.get(f"/d/{design['id']}/gallery?rev=2", headers=HX).text
    wait_for_job(customer, made["job"]["id"])
    images = customer.get(f"/api/v1/designs/{design['id']}").json()["images"]
    assert [i["spec_revision"] for i in images[-4:]] == [2] * 4


def test_a_round_on_the_page_that_changes_the_spec_updates_the_panel_in_the_same_response(customer, running_worker):
    design = started(customer)
    response = customer.post(f"/d/{design['id']}/rounds", data={"instruction": "make it platinum"}, headers=HX)
    assert response.status_code == 200
    assert 'id="materials"' in response.text and 'value="platinum" selected' in response.text
    assert 'name="spec_revision" value="2"' in response.text
    quote = customer.get(f"/api/v1/designs/{design['id']}").json()["quote"]["total"]
    assert quote in response.text


def test_ordering_with_an_old_revision_or_an_old_price_is_refused_with_409(customer, running_worker):
    design = started(customer)
    image = design["images"][0]["id"]
    spec = {**design["spec"], "metal": "platinum"}
    moved = customer.put(f"/api/v1/designs/{design['id']}/spec", json=spec).json()
    assert moved["spec_revision"] == 2
    stale = customer.post(f"/api/v1/designs/{design['id']}/order", json=order_body(design, image))
    assert stale.status_code == 409 and "changed" in stale.json()["detail"]
    fresh = {**design, "spec_revision": 2}
    wrong_price = customer.post(f"/api/v1/designs/{design['id']}/order",
                                json=order_body(fresh, image, quote_total="1.00"))
    assert wrong_price.status_code == 409 and moved["quote"]["total"] in wrong_price.json()["detail"]
    placed = customer.post(f"/api/v1/designs/{design['id']}/order",
                           json=order_body(fresh, image, quote_total=moved["quote"]["total"]))
    assert placed.status_code == 201 and placed.json()["quote"]["total"] == moved["quote"]["total"]


def test_the_page_shows_the_current_panel_when_the_design_moved_on(customer, running_worker):
    design = started(customer)
    customer.put(f"/api/v1/designs/{design['id']}/spec", json={**design["spec"], "metal": "14k_rose"})
    form = {"name": "Ana", "email": "ana@example.com", "spec_revision": "1", "idempotency_key": "k1"}
    response = customer.post(f"/d/{design['id']}/order", data=form, headers=HX)
    assert response.status_code == 409 and 'id="order-error"' in response.text
    assert 'id="materials"' in response.text and 'value="14k_rose" selected' in response.text
    assert 'value="Ana"' in response.text                                       # nothing typed is lost


def test_one_idempotency_key_makes_one_order(customer, running_worker, staff_session):
    design = started(customer)
    url = f"/api/v1/designs/{design['id']}/order"
    body = order_body(design, design["images"][0]["id"])
    first = customer.post(url, json=body, headers={"Idempotency-Key": "double-click-1"})
    again = customer.post(url, json=body, headers={"Idempotency-Key": "double-click-1"})
    other = customer.post(url, json=body, headers={"Idempotency-Key": "a-second-order"})
    assert first.status_code == again.status_code == 201
    assert again.json()["number"] == first.json()["number"] and again.json()["token"] == first.json()["token"]
    assert other.json()["number"] != first.json()["number"]
    too_long = customer.post(url, json=body, headers={"Idempotency-Key": "k" * 201})
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["field"] == "Idempotency-Key"
    client, _ = staff_session
    assert len(client.get("/api/v1/orders").json()["orders"]) == 2


def test_back_and_resend_on_the_page_makes_one_order(customer, running_worker):
    design = started(customer)
    page = customer.get(f"/d/{design['id']}").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    revision = re.search(r'form="order-form" name="spec_revision" value="(\d+)"', page).group(1)
    form = {"name": "Ana", "email": "ana@example.com", "spec_revision": revision, "idempotency_key": key}
    first = customer.post(f"/d/{design['id']}/order", data=form, follow_redirects=False)
    second = customer.post(f"/d/{design['id']}/order", data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]


def test_the_jeweler_sees_a_concept_drawn_from_another_revision_and_the_customers_inputs(
        customer, running_worker, staff_session):
    design = started(customer)
    photo = io.BytesIO()
    Image.new("RGB", (300, 200), (180, 140, 60)).save(photo, format="PNG")
    reference = customer.post(f"/api/v1/designs/{design['id']}/references",
                              files={"file": ("ring.png", photo.getvalue(), "image/png")}).json()["id"]
    from_photo = customer.post(f"/api/v1/designs/{design['id']}/renders", json={"reference_id": reference}).json()
    image = wait_for_job(customer, from_photo["job"]["id"])["images"][0]["id"]
    moved = customer.put(f"/api/v1/designs/{design['id']}/spec", json={
        **design["spec"], "metal": "18k_white", "stones": design["spec"]["stones"] + [SIDES]}).json()
    order = customer.post(f"/api/v1/designs/{design['id']}/order",
                          json=order_body({**design, "spec_revision": moved["spec_revision"]}, image)).json()
    client, _ = staff_session
    staff_view = client.get(f"/api/v1/orders/{order['number']}").json()
    flags = " ".join(staff_view["disagreements"])
    assert "revision 1" in flags and "18k yellow gold" in flags and "18k white gold" in flags
    assert "shows 1 stone; the order lists 3" in flags
    assert staff_view["inputs"]["reference"].startswith("/staff/uploads/")
    page = client.get(f"/orders/{order['number']}").text
    assert 'id="disagreements"' in page and "Their reference photo" in page
    photo_file = client.get("http://testserver" + staff_view["inputs"]["reference"])
    assert photo_file.status_code == 200 and photo_file.headers["content-type"] == "image/png"
    assert customer.get(staff_view["inputs"]["reference"]).status_code == 404     # not on the customer app


def test_an_order_whose_picture_agrees_has_no_flags(customer, running_worker, staff_session):
    design = started(customer)
    order = customer.post(f"/api/v1/designs/{design['id']}/order",
                          json=order_body(design, design["images"][0]["id"])).json()
    client, _ = staff_session
    assert client.get(f"/api/v1/orders/{order['number']}").json()["disagreements"] == []


def test_the_same_key_with_other_details_is_refused_and_reveals_nothing(customer, running_worker):
    design = started(customer)
    url = f"/api/v1/designs/{design['id']}/order"
    body = order_body(design, design["images"][0]["id"])
    first = customer.post(url, json=body, headers={"Idempotency-Key": "k-1"}).json()
    other = customer.post(url, json={**body, "email": "someone.else@example.com"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and first["token"] not in other.text


def test_odd_numbers_in_forms_and_queries_are_4xx_not_500(customer, running_worker):
    design = started(customer)
    for data in ({"name": "Ana", "email": "ana@example.com", "spec_revision": "²"},
                 {"name": "Ana", "email": "ana@example.com", "spec_revision": "9" * 5000}):
        response = customer.post(f"/d/{design['id']}/order", data=data, headers=HX)
        assert response.status_code == 422
    assert customer.get(f"/d/{design['id']}/gallery?rev=²", headers=HX).status_code == 200
    assert customer.get(f"/d/{design['id']}/gallery?rev=" + "9" * 5000, headers=HX).status_code == 200
    for option in ("²", "9" * 5000, "-1", ""):
        assert customer.post(f"/d/{design['id']}/budget", data={"option": option, "spec_revision": "1"},
                             headers=HX).status_code == 422
    huge = {"piece_type": "ring", "metal": "14k_yellow", "size_system": "us", "ring_size": "7",
            "stones-0-role": "center", "stones-0-type": "diamond", "stones-0-shape": "oval",
            "stones-0-length_mm": "1e200", "stones-0-width_mm": "1e200"}
    assert customer.post(f"/d/{design['id']}/spec", data=huge, headers=HX).status_code == 422
    for words in ("9" * 400 + " carats and a half ring", "a 0mm diamond, 1 ct total weight", "ring 1 1/0 ct"):
        assert customer.post("/api/v1/designs", json={"description": words}).status_code == 201, words
    assert customer.post(f"/api/v1/designs/{design['id']}/renders",
                         json={"instruction": "make it a 0.001 carat stone"}).status_code == 202


def test_a_mask_of_another_shape_than_its_concept_is_refused(customer, running_worker):
    design = started(customer)
    mask_id = uploaded_mask(customer, design["id"], (400, 100), (10, 10, 60, 60))
    refused = customer.post(f"/api/v1/designs/{design['id']}/renders",
                            json={"parent_image_id": design["images"][0]["id"], "mask_id": mask_id})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "mask_id"
