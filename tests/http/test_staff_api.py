"""The jeweler's half of the loop, and the staff app's access rules."""

import dataclasses
import email.message
import http.cookiejar
import urllib.request

import pytest
from fastapi.testclient import TestClient

from appliance import cli
from tests.conftest import STAFF_PASSWORD, wait_for_job


@pytest.fixture
def order(customer, running_worker):
    design = customer.post("/api/v1/designs", json={"description": "platinum ring with a 1 carat round diamond"}).json()
    job = customer.post(f"/api/v1/designs/{design['id']}/renders", json={"count": 1}).json()["job"]
    image_id = wait_for_job(customer, job["id"])["images"][0]["id"]
    placed = customer.post(f"/api/v1/designs/{design['id']}/order",
                           json={"image_id": image_id, "name": "Ana", "email": "ana@example.com",
                                 "spec_revision": design["spec_revision"]}).json()
    return {**placed, "design_id": design["id"], "image_id": image_id}


def test_everything_needs_a_login(staff):
    assert staff.get("/api/v1/orders").status_code == 401
    assert staff.get("/api/v1/orders/1001").status_code == 401
    assert staff.get("/api/v1/price-book").status_code == 401
    page = staff.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/staff/login"


def test_a_wrong_password_is_refused(staff, jeweler):
    response = staff.post("/api/v1/session", json={"username": jeweler, "password": "not the password"})
    assert response.status_code == 401 and "diamra_staff_session" not in response.cookies


def test_staff_cookies_stay_with_the_staff_app(staff, jeweler):
    """Both staff cookies are HttpOnly, SameSite=strict, named diamra_staff_* and kept to
    Path=/staff, which the customer app never serves: a browser holding them sends
    nothing to the customer port on the same host name."""
    response = staff.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD})
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    assert set(cookies) == {"diamra_staff_session", "diamra_staff_csrf"}
    for header in cookies.values():
        assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/staff" in header
        assert "Secure" not in header
    assert cookies["diamra_staff_csrf"].split(";")[0].split("=", 1)[1] == response.json()["csrf_token"]
    jar = http.cookiejar.CookieJar()
    jar.extract_cookies(_Answer(response.headers.get_list("set-cookie")),
                        urllib.request.Request("http://shop.example:8081/staff/api/v1/session"))
    for url in ("http://shop.example:8080/", "http://shop.example:8080/api/v1/designs",
                "http://shop.example:8080/api/v1/orders/abc", "http://shop.example:8080/d/x"):
        asked = urllib.request.Request(url)
        jar.add_cookie_header(asked)
        assert asked.get_header("Cookie") is None, url
    asked = urllib.request.Request("http://shop.example:8081/staff/api/v1/orders")
    jar.add_cookie_header(asked)
    assert "diamra_staff_session=" in asked.get_header("Cookie")


class _Answer:
    """What http.cookiejar needs of a response: its Set-Cookie headers."""
    def __init__(self, set_cookies):
        self._headers = email.message.Message()
        for value in set_cookies:
            self._headers["Set-Cookie"] = value

    def info(self):
        return self._headers


def test_over_https_staff_cookies_are_secure_prefixed(settings, store, jeweler):
    settings = dataclasses.replace(settings, secure_cookies=True)
    _, app = cli.build_apps(settings, store)
    with TestClient(app, base_url="https://testserver/staff") as client:
        response = client.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD})
        names = [c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")]
        assert sorted(names) == ["__Secure-diamra_staff_csrf", "__Secure-diamra_staff_session"]
        assert all("Secure" in c for c in response.headers.get_list("set-cookie"))
        assert client.get("/api/v1/orders").status_code == 200
        assert client.delete("/api/v1/session", headers={"X-CSRF-Token": response.json()["csrf_token"]}).status_code == 200
        assert client.get("/api/v1/orders").status_code == 401


def test_addresses_outside_staff_are_sent_under_it(staff, jeweler):
    root = staff.get("http://testserver/", follow_redirects=False)
    assert root.status_code == 308 and root.headers["location"] == "/staff/"
    old = staff.post("http://testserver/api/v1/session?x=1", json={}, follow_redirects=False)
    assert old.status_code == 308 and old.headers["location"] == "/staff/api/v1/session?x=1"
    logged_in = staff.post("http://testserver/api/v1/session",
                           json={"username": jeweler, "password": STAFF_PASSWORD})
    assert logged_in.status_code == 200 and logged_in.url.path == "/staff/api/v1/session"
    assert staff.get("http://testserver/staff/nothing-here").status_code == 404


def test_writes_need_the_csrf_token(staff_session, order):
    client, headers = staff_session
    assert client.post("/api/v1/orders/1001/accept", json={}).status_code == 403
    assert client.post("/api/v1/orders/1001/accept", json={}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/api/v1/orders/1001/accept", json={}, headers=headers).status_code == 200


def test_logout_revokes_the_session_on_the_server(staff_session):
    client, headers = staff_session
    stolen = client.cookies["diamra_staff_session"]
    assert client.delete("/api/v1/session", headers=headers).status_code == 200
    client.cookies.set("diamra_staff_session", stolen, path="/staff")
    assert client.get("/api/v1/orders").status_code == 401


def test_the_jeweler_sees_the_whole_order(staff_session, order):
    client, _ = staff_session
    inbox = client.get("/api/v1/orders").json()["orders"]
    assert [o["number"] for o in inbox] == [order["number"]] and inbox[0]["image_url"].endswith(".png")
    detail = client.get(f"/api/v1/orders/{order['number']}").json()
    assert detail["customer"]["email"] == "ana@example.com"
    assert detail["description"] == "platinum ring with a 1 carat round diamond"
    assert float(detail["quote"]["margin"]) > 0 and all("cost" in line for line in detail["quote"]["lines"])
    assert detail["image"]["id"] == order["image_id"] and detail["spec"]["metal"] == "platinum"


def test_request_changes_reply_and_resubmit_round_trip(staff_session, customer, running_worker, order):
    client, headers = staff_session
    number, token = order["number"], order["token"]
    assert client.post(f"/api/v1/orders/{number}/request-changes", json={"message": ""}, headers=headers).status_code == 422
    changed = client.post(f"/api/v1/orders/{number}/request-changes", json={"message": "A thinner band would suit the stone."},
                          headers=headers)
    assert changed.json()["status"] == "changes_requested"
    seen = customer.get(f"/api/v1/orders/{token}").json()
    assert seen["status"] == "changes_requested" and seen["events"][-1]["body"] == "A thinner band would suit the stone."
    customer.post(f"/api/v1/orders/{token}/messages", json={"body": "Yes, make it thinner."})
    job = customer.post(f"/api/v1/designs/{order['design_id']}/renders",
                        json={"instruction": "thinner band", "parent_image_id": order["image_id"], "count": 1}).json()["job"]
    new_image = wait_for_job(customer, job["id"])["images"][0]["id"]
    revised = customer.post(f"/api/v1/orders/{token}/revision", json={"image_id": new_image})
    assert revised.status_code == 201 and revised.json()["status"] == "submitted" and revised.json()["version"] == 2
    detail = client.get(f"/api/v1/orders/{number}").json()
    assert [e["body"] for e in detail["events"] if e["actor"] == "customer"][1] == "Yes, make it thinner."
    assert [v["image_id"] for v in detail["versions"]] == [order["image_id"], new_image]
    assert detail["versions"][1]["spec"]["band_width_mm"] < detail["versions"][0]["spec"]["band_width_mm"]


def test_the_state_machine_is_enforced_over_http(staff_session, order):
    client, headers = staff_session
    n = order["number"]
    assert client.post(f"/api/v1/orders/{n}/status", json={"status": "completed"}, headers=headers).status_code == 409
    assert client.post(f"/api/v1/orders/{n}/accept", json={"note": "Lovely"}, headers=headers).json()["status"] == "accepted"
    for status in ("in_production", "ready", "completed"):
        assert client.post(f"/api/v1/orders/{n}/status", json={"status": status}, headers=headers).json()["status"] == status
    assert client.post(f"/api/v1/orders/{n}/decline", json={"reason": "x"}, headers=headers).status_code == 409
    assert client.post(f"/api/v1/orders/{n}/status", json={"status": "shipped"}, headers=headers).status_code == 422
    assert client.get("/api/v1/orders?status=completed").json()["orders"][0]["number"] == n
    assert client.get("/api/v1/orders?status=bogus").status_code == 422
    assert client.get("/api/v1/orders/99999").status_code == 404


def test_the_price_book_is_versioned_and_validated(staff_session):
    client, headers = staff_session
    current = client.get("/api/v1/price-book").json()
    assert current["version"] == 1
    markup = current["book"]["markup"]
    bad = client.put("/api/v1/price-book", json={**current["book"], "markup": {**markup, "metal": [["0", "-2"]]}},
                     headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "markup.metal.0"
    saved = client.put("/api/v1/price-book", json={**current["book"], "markup": {**markup, "metal": [["0", "2.5"]]}},
                       headers=headers)
    assert saved.json()["version"] == 2 and saved.json()["created_by"] == "jeweler"
    assert client.get("/api/v1/price-book").json()["book"]["markup"]["metal"] == [["0", "2.5"]]


def test_the_openapi_document_lists_the_staff_contract(staff):
    paths = staff.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/session", "/api/v1/orders", "/api/v1/orders/{number}", "/api/v1/orders/{number}/accept",
                 "/api/v1/orders/{number}/request-changes", "/api/v1/orders/{number}/decline",
                 "/api/v1/orders/{number}/messages", "/api/v1/orders/{number}/status", "/api/v1/price-book"):
        assert "/staff" + path in paths, path


def test_a_login_flood_for_one_account_gets_429_within_ten_failures(staff, jeweler, caplog):
    codes = [staff.post("/api/v1/session", json={"username": jeweler, "password": f"guess {n}"}).status_code
             for n in range(10)]
    assert codes[:5] == [401] * 5 and 429 in codes
    refused = staff.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1    # even the right password waits
    assert any("failed login" in r.getMessage() for r in caplog.records)
