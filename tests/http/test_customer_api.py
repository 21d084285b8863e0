"""The customer's half of the loop through the JSON API, with the real worker."""

import pytest

from tests.conftest import wait_for_job

EXAMPLE = "14k rose gold ring with a 1.5 carat oval lab diamond, tiny diamonds on the band, size 6"


@pytest.fixture
def design(customer):
    response = customer.post("/api/v1/designs", json={"description": EXAMPLE})
    assert response.status_code == 201
    return response.json()


def test_a_new_design_has_a_parsed_spec_and_a_quote(design):
    assert len(design["id"]) >= 22                                 # an unguessable capability
    assert design["spec"]["metal"] == "14k_rose" and design["spec"]["ring_size"] == 6
    kinds = [line["kind"] for line in design["quote"]["lines"]]
    assert kinds == ["metal", "stone", "stone", "setting", "labor"]
    assert float(design["quote"]["total"]) == sum(float(line["amount"]) for line in design["quote"]["lines"])
    assert "cost" not in str(design["quote"])


def test_render_round_then_refine_from_a_chosen_image(customer, running_worker, design):
    done = wait_for_job(customer, design["job"]["id"])              # starting a design queues its first round
    assert done["status"] == "done" and done["progress"] == 1 and len(done["images"]) == 4
    first = done["images"][1]["id"]
    refine = customer.post(f"/api/v1/designs/{design['id']}/renders",
                           json={"instruction": "thinner band", "parent_image_id": first, "count": 2})
    assert refine.status_code == 202 and refine.json()["changes"]
    wait_for_job(customer, refine.json()["job"]["id"])
    again = customer.get(f"/api/v1/designs/{design['id']}").json()
    assert len(again["images"]) == 6
    assert [i["parent_id"] for i in again["images"][4:]] == [first, first]
    assert [i["spec_revision"] for i in again["images"]] == [1] * 4 + [2] * 2 and again["spec_revision"] == 2
    assert again["chosen_image_id"] == again["images"][4]["id"]    # the chosen concept follows the newest round
    assert again["spec"]["band_width_mm"] < design["spec"]["band_width_mm"]
    image = customer.get(again["images"][0]["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_editing_the_spec_reprices_it(customer, design):
    spec = {**design["spec"], "metal": "platinum"}
    response = customer.put(f"/api/v1/designs/{design['id']}/spec", json=spec)
    assert response.status_code == 200
    assert response.json()["quote"]["total"] != design["quote"]["total"]
    assert "platinum" in response.json()["quote"]["lines"][0]["label"]


@pytest.mark.parametrize("change,field", [
    ({"metal": "unobtainium"}, "metal"),
    ({"ring_size": -4}, "ring_size"),
    ({"band_width_mm": "wide"}, "band_width_mm"),
])
def test_a_bad_spec_gets_422_naming_the_field(customer, design, change, field):
    response = customer.put(f"/api/v1/designs/{design['id']}/spec", json={**design["spec"], **change})
    assert response.status_code == 422
    assert any(d["field"] == field for d in response.json()["detail"])


def test_a_bad_stone_size_names_the_stone(customer, design):
    spec = design["spec"]
    spec["stones"][0]["length_mm"] = -1
    response = customer.put(f"/api/v1/designs/{design['id']}/spec", json=spec)
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "stones.0.length_mm"


@pytest.mark.parametrize("body,field", [
    ({"description": ""}, "description"),
    ({"description": "   "}, "description"),
    ({"description": "x" * 2001}, "description"),
    ({}, "description"),
    ({"description": "a ring", "piece_type": "tiara"}, "piece_type"),
    ({"description": "nude photo of a model"}, "description"),
])
def test_bad_descriptions_get_422_naming_the_field(customer, body, field):
    response = customer.post("/api/v1/designs", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == field


def test_unknown_ids_get_404(customer):
    assert customer.get("/api/v1/designs/nope").status_code == 404
    assert customer.get("/api/v1/jobs/nope").status_code == 404
    assert customer.get("/api/v1/orders/nope").status_code == 404
    assert customer.post("/api/v1/designs/nope/renders", json={}).status_code == 404


def test_a_queued_job_can_be_cancelled(customer, design):
    job = customer.post(f"/api/v1/designs/{design['id']}/renders", json={}).json()["job"]
    response = customer.delete(f"/api/v1/jobs/{job['id']}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_a_second_round_while_one_is_waiting_is_a_clear_409(customer, design):
    for _ in range(2):
        customer.post(f"/api/v1/designs/{design['id']}/renders", json={})
    response = customer.post(f"/api/v1/designs/{design['id']}/renders", json={})
    assert response.status_code == 409 and "wait" in response.json()["detail"]


def test_an_oversized_body_is_refused_before_it_is_read(customer):
    response = customer.post("/api/v1/designs", content=b"{" + b" " * 300_000 + b"}",
                             headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_ordering_needs_an_image_of_this_design_and_good_contact_details(customer, running_worker, design):
    job = customer.post(f"/api/v1/designs/{design['id']}/renders", json={"count": 1}).json()["job"]
    image_id = wait_for_job(customer, job["id"])["images"][0]["id"]
    url = f"/api/v1/designs/{design['id']}/order"
    cases = [
        ({"image_id": image_id, "name": "Ana", "spec_revision": 1}, "email"),
        ({"image_id": image_id, "name": "Ana", "email": "ana@example.com"}, "spec_revision"),
        ({"image_id": image_id, "name": "Ana", "email": "ana-at-example", "spec_revision": 1}, "email"),
        ({"image_id": image_id, "name": "", "email": "ana@example.com", "spec_revision": 1}, "name"),
        ({"image_id": "nope", "name": "Ana", "email": "ana@example.com", "spec_revision": 1}, "image_id"),
        ({"image_id": image_id, "name": "Ana", "email": "ana@example.com", "notes": "n" * 2001, "spec_revision": 1},
         "notes"),
    ]
    for body, field in cases:
        response = customer.post(url, json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["field"] == field, body
    placed = customer.post(url, json={"image_id": image_id, "name": "Ana", "email": "ana@example.com",
                                      "phone": "+1 555 0100", "notes": "for our anniversary", "spec_revision": 1})
    assert placed.status_code == 201
    order = placed.json()
    assert order["number"] == 1001 and order["status"] == "submitted" and len(order["token"]) >= 32
    follow = customer.get(f"/api/v1/orders/{order['token']}").json()
    assert follow["image"]["id"] == image_id and follow["quote"]["total"] == order["quote"]["total"]
    reply = customer.post(f"/api/v1/orders/{order['token']}/messages", json={"body": "Thank you!"})
    assert reply.status_code == 201 and reply.json()["events"][-1]["body"] == "Thank you!"
    assert customer.post(f"/api/v1/orders/{order['token']}/messages", json={"body": ""}).status_code == 422


def test_the_openapi_document_lists_the_customer_contract(customer):
    paths = customer.get("/openapi.json").json()["paths"]
    for path, method in [("/api/v1/designs", "post"), ("/api/v1/designs/{design_id}", "get"),
                         ("/api/v1/designs/{design_id}/spec", "put"), ("/api/v1/designs/{design_id}/renders", "post"),
                         ("/api/v1/jobs/{job_id}", "get"), ("/api/v1/jobs/{job_id}", "delete"),
                         ("/api/v1/designs/{design_id}/order", "post"), ("/api/v1/orders/{token}", "get"),
                         ("/api/v1/orders/{token}/messages", "post")]:
        assert method in paths[path], path
    assert not any(p.startswith("/api/v1/price-book") for p in paths)
