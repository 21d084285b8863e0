"""The inbox as a desk uses it: counts per status, search, sort, unread marks that clear
when the order is opened and come back when the customer writes, a table the page
refreshes by itself, and the customer's other orders."""

import pytest

from tests.conftest import wait_for_job


def place(customer, description, name, email, phone=None):
    design = customer.post("/api/v1/designs", json={"description": description}).json()
    image_id = wait_for_job(customer, design["job"]["id"])["images"][0]["id"]
    placed = customer.post(f"/api/v1/designs/{design['id']}/order", json={
        "image_id": image_id, "spec_revision": design["spec_revision"], "name": name, "email": email,
        **({"phone": phone} if phone else {})})
    assert placed.status_code == 201, placed.text
    return placed.json()


@pytest.fixture
def three(customer, running_worker):
    return [place(customer, "platinum ring with a 1 carat round diamond", "Ana Lima", "ana@example.com", "+1 555 0100"),
            place(customer, "yellow gold pendant with a pear sapphire", "Bo Chen", "bo@example.com"),
            place(customer, "rose gold hoops, 100% recycled", "Ana Lima", "ANA@example.com")]


def numbers(client, **params):
    return [o["number"] for o in client.get("/api/v1/orders", params=params).json()["orders"]]


def test_search_finds_by_number_name_email_phone_and_words(staff_session, three):
    client, _ = staff_session
    a, b, c = (o["number"] for o in three)
    assert numbers(client, q=str(b)) == [b] and numbers(client, q=f"#{b}") == [b]
    assert numbers(client, q="lima") == [c, a]
    assert numbers(client, q="bo@example") == [b]
    assert numbers(client, q="555 0100") == [a]
    assert numbers(client, q="sapphire") == [b]
    assert numbers(client, q="100%") == [c]            # a % is a character, not a wildcard
    assert numbers(client, q="_") == []
    assert numbers(client, q="nothing like it") == []
    page = client.get("/", params={"q": "sapphire"}).text
    assert f"#{b}</a>" in page and f"#{a}</a>" not in page and 'value="sapphire"' in page


def test_counts_sorts_and_filters(staff_session, three):
    client, headers = staff_session
    a, b, c = (o["number"] for o in three)
    client.post(f"/api/v1/orders/{b}/accept", json={}, headers=headers)
    answer = client.get("/api/v1/orders").json()
    assert answer["counts"]["submitted"] == 2 and answer["counts"]["accepted"] == 1
    assert numbers(client, sort="oldest") == [a, b, c] and numbers(client, sort="newest") == [c, b, a]
    assert numbers(client, sort="updated")[0] == b
    assert numbers(client, status="accepted") == [b]
    bad = client.get("/api/v1/orders", params={"sort": "price; DROP TABLE orders"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "sort"
    page = client.get("/").text
    assert 'id="count-submitted">2<' in page and 'id="count-accepted">1<' in page


def test_unread_marks_clear_when_opened_and_return_when_the_customer_writes(customer, staff_session, three):
    client, _ = staff_session
    a = three[0]
    unread = {o["number"]: o["unread"] for o in client.get("/api/v1/orders").json()["orders"]}
    assert all(unread.values())
    assert client.get(f"/orders/{a['number']}").status_code == 200
    rows = client.get("/inbox-rows").text
    assert rows.count('class="badge new"') == 2 and "2 with something new" in rows
    customer.post(f"/api/v1/orders/{a['token']}/messages", json={"body": "One more question"})
    assert {o["number"]: o["unread"] for o in client.get("/api/v1/orders").json()["orders"]}[a["number"]]


def test_the_inbox_refreshes_its_table_by_itself(staff_session, customer, running_worker):
    client, _ = staff_session
    page = client.get("/", params={"status": "submitted", "q": "ring"}).text
    assert 'hx-get="/staff/inbox-rows?status=submitted&amp;q=ring&amp;sort=newest"' in page
    assert 'hx-trigger="every 15s"' in page
    assert "No orders" in client.get("/inbox-rows").text
    place(customer, "platinum ring with a ruby", "Cy Diaz", "cy@example.com")
    assert "Cy Diaz" in client.get("/inbox-rows", params={"status": "submitted", "q": "ring"}).text


def test_the_order_page_lists_the_customers_other_orders(staff_session, three):
    client, _ = staff_session
    a, b, c = (o["number"] for o in three)
    page = client.get(f"/orders/{a}").text
    others = page.split('id="other-orders"')[1].split("</ul>")[0]
    assert f"#{c}" in others and f"#{b}" not in others and f"#{a}<" not in others


def test_the_csv_export_follows_the_filters_and_is_safe_in_a_spreadsheet(staff, store, customer, running_worker,
                                                                          staff_session):
    import csv
    import io

    from appliance.ops import auth
    from tests.conftest import STAFF_PASSWORD
    client, headers = staff_session
    a = place(customer, "platinum ring with a 1 carat round diamond", "=HYPERLINK(\"x\")", "ana@example.com")
    b = place(customer, "yellow gold pendant with a pear sapphire", "Bo Chen", "bo@example.com")
    client.post(f"/api/v1/orders/{b['number']}/accept", json={}, headers=headers)
    answer = client.get("/orders.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [int(r["number"]) for r in rows] == [b["number"], a["number"]]
    assert rows[1]["customer_name"] == "'=HYPERLINK(\"x\")"            # shown, never run
    assert rows[0]["status"] == "accepted" and rows[0]["total"] == b["quote"]["total"] and "cost_total" in rows[0]
    only = list(csv.DictReader(io.StringIO(client.get("/orders.csv", params={"status": "accepted"}).text)))
    assert [int(r["number"]) for r in only] == [b["number"]]
    client.delete("/api/v1/session", headers=headers)
    auth.create_user(store, "bench", STAFF_PASSWORD, "jeweler")
    client.post("/api/v1/session", json={"username": "bench", "password": STAFF_PASSWORD})
    bench_rows = list(csv.DictReader(io.StringIO(client.get("/orders.csv").text)))
    assert "cost_total" not in bench_rows[0] and "margin" not in bench_rows[0]
