"""The price side in the studio: the budget beside the total with changes that bring the
piece under it (one tap applies one), a grade per stone, stones added only once the
customer says how they sit, and an order that keeps exactly the quote it was shown."""

import re

from tests.conftest import wait_for_job

HX = {"HX-Request": "true"}
OVER = "18k white gold solitaire with a 1.5 carat round natural diamond, size 6, budget under $6,000"


def test_a_budget_is_shown_with_changes_that_fit_and_one_tap_applies_one(customer):
    design = customer.post("/api/v1/designs", json={"description": OVER}).json()
    view = design["budget"]
    assert view["amount"] == "6000" and view["over"] is True and 1 <= len(view["options"]) <= 3
    assert all(float(o["total"]) <= 6000 for o in view["options"])
    page = customer.get(f"/d/{design['id']}").text
    assert 'id="budget-note"' in page and "Lab-grown diamonds instead of natural" in page
    index = next(i for i, o in enumerate(view["options"]) if o["label"].startswith("Lab-grown"))
    applied = customer.post(f"/d/{design['id']}/budget", data={"option": str(index), "spec_revision": "1"}, headers=HX)
    assert applied.status_code == 200 and 'value="lab_diamond" selected' in applied.text
    after = customer.get(f"/api/v1/designs/{design['id']}").json()
    assert after["spec_revision"] == 2 and after["quote"]["total"] == view["options"][index]["total"]
    assert after["budget"]["over"] is False and 'fits it' in customer.get(f"/d/{design['id']}").text
    stale = customer.post(f"/d/{design['id']}/budget", data={"option": "0", "spec_revision": "1"}, headers=HX)
    assert stale.status_code == 409
    wrong = customer.post(f"/d/{design['id']}/budget", data={"option": "9", "spec_revision": "2"}, headers=HX)
    assert wrong.status_code == 422


def test_the_customer_chooses_a_grade_and_the_price_follows(customer):
    design = customer.post("/api/v1/designs", json={"description": "platinum ring with a 1 carat round diamond"}).json()
    page = customer.get(f"/d/{design['id']}").text
    assert 'id="stones-0-quality"' in page and "Standard (G-H/VS)" in page
    form = {"piece_type": "ring", "metal": "platinum", "size_system": "us", "ring_size": "7",
            "stones-0-role": "center", "stones-0-type": "diamond", "stones-0-shape": "round",
            "stones-0-length_mm": str(design["spec"]["stones"][0]["length_mm"]),
            "stones-0-width_mm": str(design["spec"]["stones"][0]["width_mm"]), "stones-0-count": "1",
            "stones-0-setting": "prong", "stones-0-quality": "D-F/FL-VVS"}
    better = customer.post(f"/d/{design['id']}/spec", data=form, headers=HX)
    assert better.status_code == 200 and "D-F/FL-VVS" in better.text
    after = customer.get(f"/api/v1/designs/{design['id']}").json()
    assert after["spec"]["stones"][0]["quality"] == "D-F/FL-VVS"
    assert float(after["quote"]["total"]) > float(design["quote"]["total"])
    # Changing the stone to a ruby drops a diamond grade rather than refusing the change.
    ruby = customer.post(f"/d/{design['id']}/spec", data={**form, "stones-0-type": "ruby"}, headers=HX)
    assert ruby.status_code == 200
    assert customer.get(f"/api/v1/designs/{design['id']}").json()["spec"]["stones"][0]["quality"] is None


def test_adding_stones_waits_for_how_they_sit(customer):
    design = customer.post("/api/v1/designs", json={"description": "plain 14k yellow gold band, size 7"}).json()
    base = {"piece_type": "ring", "metal": "14k_yellow", "size_system": "us", "ring_size": "7"}
    half = customer.post(f"/d/{design['id']}/spec", data={**base, "add-type": "ruby"}, headers=HX)
    assert half.status_code == 200 and "Now choose how the stones sit" in half.text
    assert re.search(r'<option value="ruby" selected', half.text)
    assert customer.get(f"/api/v1/designs/{design['id']}").json()["spec"]["stones"] == []
    customer.post(f"/d/{design['id']}/spec", data={**base, "add-type": "ruby", "add-role": "center"}, headers=HX)
    stones = customer.get(f"/api/v1/designs/{design['id']}").json()["spec"]["stones"]
    assert [(s["role"], s["type"], s["count"]) for s in stones] == [("center", "ruby", 1)]


def test_the_order_keeps_exactly_the_quote_shown_for_its_revision(customer, running_worker, staff_session):
    design = customer.post("/api/v1/designs", json={"description": OVER}).json()
    wait_for_job(customer, design["job"]["id"])
    shown = customer.get(f"/api/v1/designs/{design['id']}").json()
    order = customer.post(f"/api/v1/designs/{design['id']}/order", json={
        "image_id": shown["images"][0]["id"], "name": "Ana", "email": "ana@example.com",
        "spec_revision": shown["spec_revision"], "quote_total": shown["quote"]["total"]}).json()
    assert order["quote"]["lines"] == shown["quote"]["lines"] and order["quote"]["total"] == shown["quote"]["total"]
    followed = customer.get(f"/api/v1/orders/{order['token']}").json()["quote"]
    assert set(followed) == {"currency", "total", "deposit", "valid_until", "price_book_version", "notes", "lines"}
    assert all(set(line) <= {"kind", "label", "amount", "weight_g", "carat_total", "basis"} for line in followed["lines"])
    client, _ = staff_session
    staff_quote = client.get(f"/api/v1/orders/{order['number']}").json()["quote"]
    assert staff_quote["total"] == shown["quote"]["total"]
    assert [line["amount"] for line in staff_quote["lines"]] == [line["amount"] for line in shown["quote"]["lines"]]
