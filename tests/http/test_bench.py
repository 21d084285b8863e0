"""After Accept: the production stages the store works with, the due date and jeweler
(overdue orders marked in the inbox), the deposit received, and a printable work order."""

from datetime import date, timedelta

import pytest

from appliance import cli
from appliance.config import SettingsError, load_settings
from appliance.ops import auth
from tests.conftest import STAFF_PASSWORD
from tests.http.test_staff_api import order  # noqa: F401  (the fixture)


@pytest.fixture
def making(staff_session, order):  # noqa: F811
    client, headers = staff_session
    n = order["number"]
    client.post(f"/api/v1/orders/{n}/accept", json={}, headers=headers)
    client.post(f"/api/v1/orders/{n}/status", json={"status": "in_production"}, headers=headers)
    return order


def test_stages_move_an_order_through_the_bench_and_the_customer_sees_them(customer, staff_session, making):
    client, headers = staff_session
    n = making["number"]
    moved = client.post(f"/api/v1/orders/{n}/stage", json={"stage": "casting"}, headers=headers)
    assert moved.status_code == 200 and moved.json()["bench"]["stage"] == "casting"
    bad = client.post(f"/api/v1/orders/{n}/stage", json={"stage": "gilding"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "stage"
    seen = customer.get(f"/api/v1/orders/{making['token']}").json()
    assert seen["stage"] == "casting" and seen["events"][-1]["body"] == "Casting"
    client.post(f"/api/v1/orders/{n}/status", json={"status": "ready"}, headers=headers)
    late = client.post(f"/api/v1/orders/{n}/stage", json={"stage": "polishing"}, headers=headers)
    assert late.status_code == 409


def test_the_store_switches_stages_off(settings, store, jeweler, customer, running_worker):
    from dataclasses import replace

    from fastapi.testclient import TestClient
    only = replace(settings, production_stages="casting,polishing")
    _, staff_app = cli.build_apps(only, store)
    with TestClient(staff_app, base_url="http://testserver/staff") as client:
        csrf = client.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD}).json()
        headers = {"X-CSRF-Token": csrf["csrf_token"]}
        from tests.http.test_inbox import place
        n = place(customer, "platinum ring with a ruby", "Ana", "ana@example.com")["number"]
        client.post(f"/api/v1/orders/{n}/accept", json={}, headers=headers)
        client.post(f"/api/v1/orders/{n}/status", json={"status": "in_production"}, headers=headers)
        assert client.post(f"/api/v1/orders/{n}/stage", json={"stage": "cad"}, headers=headers).status_code == 422
        page = client.get(f"/orders/{n}").text
        options = page.split('id="stage-select"')[1].split("</select>")[0]
        assert "Casting" in options and "Polishing" in options and "CAD" not in options
    with pytest.raises(SettingsError, match="gilding"):
        cli.build_apps(replace(settings, production_stages="casting,gilding"), store)


def test_due_dates_and_jewelers_and_overdue_marks(staff_session, store, making):
    client, headers = staff_session
    n = making["number"]
    auth.create_user(store, "bench", STAFF_PASSWORD, "jeweler")
    nobody = client.post(f"/api/v1/orders/{n}/plan", json={"due_date": "2026-12-24", "assigned_to": "ghost"},
                         headers=headers)
    assert nobody.status_code == 422 and nobody.json()["detail"][0]["field"] == "assigned_to"
    bad = client.post(f"/api/v1/orders/{n}/plan", json={"due_date": "24/12/2026"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "due_date"
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    planned = client.post(f"/api/v1/orders/{n}/plan", json={"due_date": yesterday, "assigned_to": "bench"},
                          headers=headers).json()
    assert planned["bench"]["assigned_to"] == "bench" and planned["bench"]["overdue"] is True
    rows = client.get("/inbox-rows").text
    assert f"Overdue {yesterday}" in rows
    later = (date.today() + timedelta(days=10)).isoformat()
    client.post(f"/api/v1/orders/{n}/plan", json={"due_date": later, "assigned_to": "bench"}, headers=headers)
    assert "Overdue" not in client.get("/inbox-rows").text


def test_the_plan_is_the_desks_own(customer, staff_session, making):
    client, headers = staff_session
    client.post(f"/api/v1/orders/{making['number']}/plan", json={"due_date": "2030-01-01"}, headers=headers)
    events = customer.get(f"/api/v1/orders/{making['token']}").json()["events"]
    assert not any("2030-01-01" in (e["body"] or "") for e in events)


def test_the_deposit_is_recorded_not_charged(staff_session, making):
    client, headers = staff_session
    n = making["number"]
    total = client.get(f"/api/v1/orders/{n}").json()["quote"]["total"]
    today = date.today().isoformat()
    for body, field in (({"amount": "0", "received_on": today, "method": "cash"}, "amount"),
                        ({"amount": str(float(total) + 1), "received_on": today, "method": "cash"}, "amount"),
                        ({"amount": "nan", "received_on": today, "method": "cash"}, "amount"),
                        ({"amount": "100", "received_on": "yesterday", "method": "cash"}, "received_on"),
                        ({"amount": "100", "received_on": "2999-01-01", "method": "cash"}, "received_on"),
                        ({"amount": "100", "received_on": today, "method": "bitcoin"}, "method")):
        refused = client.post(f"/api/v1/orders/{n}/deposit", json=body, headers=headers)
        assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == field, body
    done = client.post(f"/api/v1/orders/{n}/deposit", json={"amount": "1,000.5", "received_on": today,
                                                             "method": "bank_transfer"}, headers=headers).json()
    assert done["bench"]["deposit"]["received"] == "1000.50" and done["bench"]["deposit"]["method"] == "bank_transfer"
    assert "Deposit of $1,000.50" in done["events"][-1]["body"]
    page = client.get(f"/orders/{n}").text
    assert "received $1,000.50 on " + today in page


def test_the_bench_forms_on_the_page(staff_session, making):
    client, headers = staff_session
    n, csrf = making["number"], headers["X-CSRF-Token"]
    ok = client.post(f"/orders/{n}/bench/stage", data={"stage": "setting", "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    wrong = client.post(f"/orders/{n}/bench/deposit", data={"amount": "-5", "received_on": "x", "method": "cash",
                                                            "csrf_token": csrf})
    assert wrong.status_code == 422 and 'id="bench-error"' in wrong.text
    assert client.post(f"/orders/{n}/bench/sing", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/orders/{n}/bench/stage", data={"stage": "setting"}).status_code == 403


def test_the_work_order_prints_what_the_bench_needs(staff_session, making):
    client, headers = staff_session
    n = making["number"]
    client.post(f"/api/v1/orders/{n}/plan", json={"due_date": "2026-12-24"}, headers=headers)
    page = client.get(f"/orders/{n}/work-order")
    assert page.status_code == 200
    text = page.text
    assert f"Work order #{n}" in text and "<svg" in text and f"DIAMRA-ORDER-{n}" in text
    assert 'id="wo-stones"' in text and "<td>1.00</td>" in text     # the 1 carat centre stone, as quoted
    assert "platinum" in text.lower() and "2026-12-24" in text and "script-src" not in text
    assert 'src="/static/print.js"' in text
    assert client.get("/orders/999999/work-order").status_code == 404


def test_load_settings_accepts_a_stage_list(tmp_path):
    assert load_settings(tmp_path, production_stages="casting").production_stages == "casting"
