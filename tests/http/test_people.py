"""People on the desk: admins manage staff, everyone their own password and sessions, a
jeweler is refused every admin route, and the audit log keeps who changed what."""

import sqlite3

import pytest

from appliance.ops import auth
from tests.conftest import STAFF_PASSWORD


def login(client, name, password=STAFF_PASSWORD):
    answer = client.post("/api/v1/session", json={"username": name, "password": password})
    assert answer.status_code == 200, answer.text
    return {"X-CSRF-Token": answer.json()["csrf_token"]}


def test_an_admin_adds_promotes_and_disables_staff(staff_session, store):
    client, headers = staff_session
    weak = client.post("/api/v1/users", json={"username": "bench", "password": "short"}, headers=headers)
    assert weak.status_code == 422 and weak.json()["detail"][0]["field"] == "password"
    added = client.post("/api/v1/users", json={"username": "bench", "password": "a bench password!"}, headers=headers)
    assert added.status_code == 201 and added.json()["role"] == "jeweler"
    twice = client.post("/api/v1/users", json={"username": "bench", "password": "a bench password!"}, headers=headers)
    assert twice.status_code == 409
    assert client.patch("/api/v1/users/bench", json={"role": "admin"}, headers=headers).json()["role"] == "admin"
    assert client.patch("/api/v1/users/ghost", json={"role": "admin"}, headers=headers).status_code == 404
    bad_role = client.patch("/api/v1/users/bench", json={"role": "owner"}, headers=headers)
    assert bad_role.status_code == 422 and bad_role.json()["detail"][0]["field"] == "role"

    other = client.__class__(client.app, base_url="http://testserver/staff")
    with other:
        login(other, "bench", "a bench password!")
        assert other.get("/api/v1/orders").status_code == 200
        client.patch("/api/v1/users/bench", json={"disabled": True}, headers=headers)
        assert other.get("/api/v1/orders").status_code == 401          # its session ended at once
        assert other.post("/api/v1/session", json={"username": "bench",
                                                    "password": "a bench password!"}).status_code == 401
    actions = [(e["action"], e["target"]) for e in client.get("/api/v1/audit").json()["entries"]]
    assert actions[:3] == [("account disabled", "bench"), ("role changed", "bench"), ("user added", "bench")]


def test_the_last_admin_cannot_lock_the_store_out(staff_session, jeweler):
    client, headers = staff_session
    assert client.patch(f"/api/v1/users/{jeweler}", json={"role": "jeweler"}, headers=headers).status_code == 409
    assert client.patch(f"/api/v1/users/{jeweler}", json={"disabled": True}, headers=headers).status_code == 409


ADMIN_ROUTES = [("get", "/api/v1/users", None), ("post", "/api/v1/users", {"username": "x1", "password": "p" * 12}),
                ("patch", "/api/v1/users/jeweler", {"role": "jeweler"}), ("get", "/api/v1/audit", None),
                ("put", "/api/v1/price-book", {}), ("get", "/people", None), ("get", "/audit", None)]


@pytest.mark.parametrize("method,path,body", ADMIN_ROUTES)
def test_a_jeweler_is_refused_every_admin_route(staff, store, jeweler, method, path, body):
    auth.create_user(store, "bench", STAFF_PASSWORD, "jeweler")
    headers = login(staff, "bench")
    answer = getattr(staff, method)(path, headers=headers, **({"json": body} if body is not None else {}))
    assert answer.status_code == 403, answer.text


def test_the_people_page_works_with_its_forms(staff_session):
    client, headers = staff_session
    csrf = headers["X-CSRF-Token"]
    page = client.get("/people").text
    assert 'id="add-person"' in page and 'href="/staff/people"' in page
    added = client.post("/people", data={"action": "add", "username": "polish", "password": "a long password",
                                         "role": "jeweler", "csrf_token": csrf}, follow_redirects=False)
    assert added.status_code == 303 and "person-polish" in client.get("/people").text
    wrong = client.post("/people", data={"action": "add", "username": "p", "password": "x", "role": "jeweler",
                                         "csrf_token": csrf})
    assert wrong.status_code == 422 and 'id="people-error"' in wrong.text
    client.post("/people", data={"action": "disable", "username": "polish", "csrf_token": csrf})
    assert "Enable polish" in client.get("/people").text


def test_changing_ones_password_ends_the_other_sessions(staff, jeweler):
    first = login(staff, jeweler)
    second_client = staff.__class__(staff.app, base_url="http://testserver/staff")
    with second_client:
        login(second_client, jeweler)
        sessions = staff.get("/api/v1/account/sessions").json()["sessions"]
        assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
        wrong = staff.post("/api/v1/account/password", json={"current_password": "nope",
                                                              "new_password": "a new long password"}, headers=first)
        assert wrong.status_code == 422 and wrong.json()["detail"][0]["field"] == "current_password"
        done = staff.post("/api/v1/account/password", json={"current_password": STAFF_PASSWORD,
                                                             "new_password": "a new long password"}, headers=first)
        assert done.status_code == 200
        assert second_client.get("/api/v1/orders").status_code == 401
        assert staff.get("/api/v1/orders").status_code == 200           # this one stays
    staff.delete("/api/v1/session", headers=first)
    login(staff, jeweler, "a new long password")


def test_ending_one_of_ones_sessions(staff, jeweler):
    headers = login(staff, jeweler)
    other = staff.__class__(staff.app, base_url="http://testserver/staff")
    with other:
        login(other, jeweler)
        (elsewhere,) = [s for s in staff.get("/api/v1/account/sessions").json()["sessions"] if not s["current"]]
        assert staff.delete(f"/api/v1/account/sessions/{elsewhere['id']}", headers=headers).status_code == 200
        assert other.get("/api/v1/orders").status_code == 401
        assert staff.delete("/api/v1/account/sessions/zzzz", headers=headers).status_code == 404
    page = staff.get("/account").text
    assert "(this browser)" in page and 'id="do-password"' in page


def test_the_audit_log_is_append_only(staff_session, store):
    client, headers = staff_session
    client.post("/api/v1/users", json={"username": "bench", "password": "a bench password!"}, headers=headers)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with store.write() as db:
            db.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with store.write() as db:
            db.execute("DELETE FROM audit_log")
    assert "user added" in client.get("/audit").text


def test_changing_nobody_is_a_404_not_an_error(staff_session):
    """Found by schemathesis: PATCH of an unknown name with an empty body raised (500)."""
    client, headers = staff_session
    assert client.patch("/api/v1/users/0", json={}, headers=headers).status_code == 404
