"""What the reader understood reaches the customer (marked stated, guessed or default,
each a tap from its field) and the jeweler (details and guesses beside the words), and
follows the design when the customer changes a fact."""

import re

from tests.conftest import wait_for_job

STORY = ("Hi! Looking for an engagement ring, maybe around 1.5 carats, oval, with a few small diamonds on the "
         "band but no halo please. Budget under $5,000. She wears white gold, size 6, milgrain edges.")


def understood(design: dict) -> dict:
    return {f["field"]: f for f in design["understood"]}


def test_the_api_says_how_each_fact_was_known(customer):
    design = customer.post("/api/v1/designs", json={"description": STORY}).json()
    facts = understood(design)
    assert facts["ring_size"]["source"] == "stated" and facts["ring_size"]["value"] == "US 6"
    assert facts["metal"]["source"] == "default" and facts["metal"]["why"] == "karat not given"
    assert facts["budget"]["source"] == "stated" and design["spec"]["budget"] == 5000
    assert facts["stones-0"]["source"] == "guessed"            # no stone named: a diamond is our choice
    assert design["spec"]["stones"][0]["shape"] == "oval"
    assert not any(s["setting"] == "halo" for s in design["spec"]["stones"])
    assert design["details"] == ["milgrain"]


def test_a_fact_changed_in_the_panel_is_shown_as_the_customers_choice(customer):
    design = customer.post("/api/v1/designs", json={"description": STORY}).json()
    spec = {**design["spec"], "metal": "platinum"}
    assert customer.put(f"/api/v1/designs/{design['id']}/spec", json=spec).status_code == 200
    facts = understood(customer.get(f"/api/v1/designs/{design['id']}").json())
    assert facts["metal"] == {"field": "metal", "label": "Metal", "value": "platinum 950", "source": "changed", "why": ""}
    assert facts["ring_size"]["source"] == "stated"


def test_the_studio_page_lists_what_it_understood_with_a_link_to_each_field(customer):
    page = customer.post("/designs", data={"description": STORY}, follow_redirects=True)
    html = page.text
    assert "What we understood" in html
    for anchor in ("#metal", "#ring_size", "#budget", "#stones-0-type"):
        assert f'href="{anchor}"' in html, anchor
        assert f'id="{anchor[1:]}"' in html, anchor              # the link lands on a real field
    assert re.search(r"fact-default.*?Metal.*?standard: karat not given", html, re.S)
    # The panel edit answers with the list brought up to date.
    design_id = page.url.path.rsplit("/", 1)[-1]
    form = {"metal": "18k_rose", "ring_size": "6", "size_system": "us", "piece_type": "ring"}
    panel = customer.post(f"/d/{design_id}/spec", data=form, headers={"HX-Request": "true"})
    assert panel.status_code == 200
    assert re.search(r"fact-changed.*?Metal.*?18k rose gold.*?your choice", panel.text, re.S)


def test_a_budget_can_be_set_and_cleared_in_the_panel(customer):
    design = customer.post("/api/v1/designs", json={"description": "rose gold ring with a ruby"}).json()
    base = {"metal": "14k_rose", "piece_type": "ring", "size_system": "us", "ring_size": "7"}
    customer.post(f"/d/{design['id']}/spec", data={**base, "budget": "2500"}, headers={"HX-Request": "true"})
    assert customer.get(f"/api/v1/designs/{design['id']}").json()["spec"]["budget"] == 2500
    customer.post(f"/d/{design['id']}/spec", data={**base, "budget": ""}, headers={"HX-Request": "true"})
    assert customer.get(f"/api/v1/designs/{design['id']}").json()["spec"]["budget"] is None
    bad = customer.post(f"/d/{design['id']}/spec", data={**base, "budget": "-4"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and 'id="err-budget"' in bad.text


def test_the_jeweler_sees_the_details_and_what_the_studio_filled_in(customer, running_worker, staff_session):
    design = customer.post("/api/v1/designs", json={"description": STORY}).json()
    job = customer.post(f"/api/v1/designs/{design['id']}/renders", json={}).json()["job"]
    image = wait_for_job(customer, job["id"])["images"][0]["id"]
    order = customer.post(f"/api/v1/designs/{design['id']}/order", json={
        "image_id": image, "name": "A Customer", "spec_revision": design["spec_revision"],
        "email": "customer@example.com"}).json()
    client, _ = staff_session
    reading = client.get(f"/api/v1/orders/{order['number']}").json()["reading"]
    assert reading["details"] == ["milgrain"]
    guessed = {g["field"]: g for g in reading["guesses"]}
    assert guessed["metal"]["why"] == "karat not given" and "stones-0" in guessed
    page = client.get(f"/orders/{order['number']}").text
    assert "Asked for, not in the materials list:</strong> milgrain" in page
    assert "Not stated, filled in by the studio:" in page


def test_a_mothers_ring_of_ten_stones_is_accepted_and_more_get_a_plain_sentence(customer):
    stones = ["garnet", "amethyst", "aquamarine", "diamond", "emerald", "pearl", "ruby", "peridot", "sapphire", "opal"]
    design = customer.post("/api/v1/designs", json={"description": "mothers ring in yellow gold with "
                                                                   + ", ".join(stones)}).json()
    assert [s["type"] for s in design["spec"]["stones"]] == stones
    spec = {**design["spec"], "stones": design["spec"]["stones"] * 2}
    refused = customer.put(f"/api/v1/designs/{design['id']}/spec", json=spec)
    assert refused.status_code == 422
    detail = refused.json()["detail"][0]
    assert detail["field"] == "stones" and detail["msg"].startswith("a piece can hold up to 12 kinds of stone")
