"""Cancelling takes a reason and a confirmation, is never the first choice of a list, and
an admin can undo an accidental one within a day (as a new event, never an edit)."""

from datetime import datetime, timedelta, timezone

import pytest

from appliance.ops import auth
from tests.conftest import STAFF_PASSWORD
from tests.http.test_staff_api import order  # noqa: F401  (the fixture)


@pytest.fixture
def accepted(staff_session, order):  # noqa: F811
    client, headers = staff_session
    assert client.post(f"/api/v1/orders/{order['number']}/accept", json={}, headers=headers).status_code == 200
    return order


def test_cancelling_needs_a_reason_and_a_confirmation(staff_session, accepted):
    client, headers = staff_session
    n = accepted["number"]
    no_confirm = client.post(f"/api/v1/orders/{n}/cancel", json={"reason": "Customer asked"}, headers=headers)
    assert no_confirm.status_code == 422 and no_confirm.json()["detail"][0]["field"] == "confirm"
    no_reason = client.post(f"/api/v1/orders/{n}/cancel", json={"reason": " ", "confirm": True}, headers=headers)
    assert no_reason.status_code == 422 and no_reason.json()["detail"][0]["field"] == "reason"
    by_status = client.post(f"/api/v1/orders/{n}/status", json={"status": "cancelled", "note": "x"}, headers=headers)
    assert by_status.status_code == 422 and by_status.json()["detail"][0]["field"] == "status"
    done = client.post(f"/api/v1/orders/{n}/cancel", json={"reason": "Customer asked", "confirm": True},
                       headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    assert done.json()["events"][-1]["body"] == "Customer asked"


def test_the_page_lists_forward_moves_only_and_cancels_behind_a_confirmation(staff_session, accepted):
    client, headers = staff_session
    n = accepted["number"]
    page = client.get(f"/orders/{n}").text
    select = page.split('id="status-select"')[1].split("</select>")[0]
    assert "in_production" in select and "cancelled" not in select
    assert 'id="cancel-zone"' in page and 'id="cancel-confirm"' in page
    csrf = headers["X-CSRF-Token"]
    refused = client.post(f"/orders/{n}/cancel", data={"body": "changed mind", "csrf_token": csrf},
                          headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "Tick the box to confirm" in refused.text
    assert client.get(f"/api/v1/orders/{n}").json()["status"] == "accepted"
    done = client.post(f"/orders/{n}/cancel", data={"body": "changed mind", "confirm": "yes", "csrf_token": csrf},
                       headers={"HX-Request": "true"})
    assert done.status_code == 200 and "changed mind" in done.text and 'id="do-undo-cancel"' in done.text


def test_an_admin_undoes_a_cancellation_within_a_day_and_the_record_keeps_both(staff, staff_session, accepted, store):
    client, headers = staff_session
    n = accepted["number"]
    client.post(f"/api/v1/orders/{n}/cancel", json={"reason": "Clicked the wrong order", "confirm": True},
                headers=headers)
    undone = client.post(f"/api/v1/orders/{n}/undo-cancel", json={"confirm": True}, headers=headers)
    assert undone.status_code == 200 and undone.json()["status"] == "accepted"
    moves = [(e["from_status"], e["to_status"]) for e in undone.json()["events"] if e["kind"] == "status"]
    assert moves[-2:] == [("accepted", "cancelled"), ("cancelled", "accepted")]
    assert client.post(f"/api/v1/orders/{n}/undo-cancel", json={"confirm": True}, headers=headers).status_code == 409

    client.post(f"/api/v1/orders/{n}/cancel", json={"reason": "Really this time", "confirm": True}, headers=headers)
    with store.write() as db:
        db.execute("UPDATE order_events SET created_at = ? WHERE order_number = ? AND to_status = 'cancelled'",
                   ((datetime.now(timezone.utc) - timedelta(hours=25)).isoformat(), n))
    late = client.post(f"/api/v1/orders/{n}/undo-cancel", json={"confirm": True}, headers=headers)
    assert late.status_code == 409 and "24 hours" in late.json()["detail"]


def test_a_jeweler_cannot_undo_a_cancellation(staff, store, accepted, staff_session):
    client, headers = staff_session
    n = accepted["number"]
    client.post(f"/api/v1/orders/{n}/cancel", json={"reason": "Oops", "confirm": True}, headers=headers)
    client.delete("/api/v1/session", headers=headers)
    auth.create_user(store, "bench", STAFF_PASSWORD, "jeweler")
    login = client.post("/api/v1/session", json={"username": "bench", "password": STAFF_PASSWORD})
    bench = {"X-CSRF-Token": login.json()["csrf_token"]}
    assert client.post(f"/api/v1/orders/{n}/undo-cancel", json={"confirm": True}, headers=bench).status_code == 403
    assert 'id="do-undo-cancel"' not in client.get(f"/orders/{n}").text
