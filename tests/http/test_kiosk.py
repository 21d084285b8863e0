"""The in-store kiosk over HTTP: a one-time pairing link, a secret kept only as its hash,
revoking that works at once, a visit the server forgets on Start over, the kiosk's own
rate-limit bucket and log name, the staff Kiosks page (admins, CSRF), no-store on every
page with personal data, and bad input answered 4xx naming the field."""

import hashlib
import logging
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from appliance import cli
from appliance.config import load_settings
from appliance.ops import auth
from appliance.studio import jobs, kiosks
from tests.conftest import STAFF_PASSWORD, wait_for_job
from web import kiosk as kiosk_web

KIOSK_COOKIE = "diamra_kiosk"


def pair(client, store, name="front-counter") -> str:
    """Add a kiosk, open its pairing link with `client` and press its button; returns the
    kiosk's secret."""
    added = kiosks.add(store, name, actor="test")
    asked = client.get(f"/kiosk/pair/{added.pairing_token}", follow_redirects=False)
    assert asked.status_code == 200 and 'id="kiosk-pair"' in asked.text
    answer = client.post("/kiosk/pair", data={"link": added.pairing_token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/kiosk"
    return client.cookies[KIOSK_COOKIE]


def start_design(client, words="rose gold ring with an oval sapphire") -> str:
    answer = client.post("/kiosk/designs", data={"description": words}, headers={"HX-Request": "true"})
    assert answer.status_code == 200, answer.text
    return answer.headers["HX-Redirect"].removeprefix("/d/")


def test_a_pairing_link_pairs_one_screen_once_and_the_database_keeps_only_the_secret_s_hash(customer, store, settings):
    assert customer.get("/kiosk").status_code == 403                       # not paired yet
    added = kiosks.add(store, "front-counter", actor="test")
    first = customer.post("/kiosk/pair", data={"link": added.pairing_token}, follow_redirects=False)
    assert first.status_code == 303
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{KIOSK_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and int(cookie.split("Max-Age=")[1].split(";")[0]) >= 365 * 24 * 3600
    secret = customer.cookies[KIOSK_COOKIE]
    assert len(secret) >= 40

    page = customer.get("/kiosk")
    assert page.status_code == 200 and settings.store_name in page.text and 'id="kiosk-description"' in page.text

    with sqlite3.connect(settings.database_path) as db:
        rows = db.execute("SELECT * FROM kiosks").fetchall()
        secret_hash = db.execute("SELECT secret_hash FROM kiosks").fetchone()[0]
    assert secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) or added.pairing_token in str(value) for row in rows for value in row)

    reopened = customer.get(f"/kiosk/pair/{added.pairing_token}")           # the link again, on the same screen
    assert reopened.status_code == 409 and "already paired" in reopened.text and "used already" in reopened.text
    assert customer.get("/kiosk").status_code == 200                            # and it stays paired
    with TestClient(customer.app) as other:                                   # the link again, on another screen
        again = other.get(f"/kiosk/pair/{added.pairing_token}", follow_redirects=False)
        assert again.status_code == 409 and "used already" in again.text and KIOSK_COOKIE not in other.cookies
        assert other.get("/kiosk").status_code == 403


def test_an_expired_unknown_or_revoked_link_is_refused_with_a_page_that_says_why(customer, store, settings):
    expired = kiosks.add(store, "back-room", actor="test")
    with sqlite3.connect(settings.database_path) as db:
        db.execute("UPDATE kiosks SET pairing_expires_at = '2000-01-01T00:00:00+00:00'")
    answer = customer.get(f"/kiosk/pair/{expired.pairing_token}")
    assert answer.status_code == 409 and "expired" in answer.text
    assert customer.get("/kiosk/pair/" + "x" * 32).status_code == 404
    assert customer.get("/kiosk/pair/short").status_code == 404
    assert customer.get("/kiosk/pair/" + "y" * 5000).status_code == 404
    assert customer.post("/kiosk/pair", data={"link": "z" * 20_000}).status_code == 404
    revoked = kiosks.add(store, "window", actor="test")
    kiosks.revoke(store, "window", actor="test")
    answer = customer.get(f"/kiosk/pair/{revoked.pairing_token}")
    assert answer.status_code == 409 and "revoked" in answer.text
    assert KIOSK_COOKIE not in customer.cookies


def test_the_unpaired_page_pairs_from_a_typed_link_and_names_an_empty_one(customer, store):
    empty = customer.post("/kiosk/pair", data={"link": "  "})
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.text and "pairing link" in empty.text
    added = kiosks.add(store, "front-counter", actor="test")
    typed = customer.post("/kiosk/pair", data={"link": f"http://store.example/kiosk/pair/{added.pairing_token}"},
                          follow_redirects=False)
    assert typed.status_code == 303 and KIOSK_COOKIE in customer.cookies


def test_a_revoked_kiosk_is_unpaired_from_its_next_request(customer, store):
    pair(customer, store)
    design_id = start_design(customer)
    assert "kiosk-bar" in customer.get(f"/d/{design_id}").text
    kiosks.revoke(store, "front-counter", actor="test")
    page = customer.get("/kiosk")
    assert page.status_code == 403 and "not paired" in page.text
    assert "kiosk-bar" not in customer.get(f"/d/{design_id}").text               # an ordinary visitor now
    assert customer.post("/kiosk/designs", data={"description": "platinum ring"}).status_code == 403
    assert customer.post("/kiosk/reset").status_code == 403


def test_start_over_forgets_the_customer_s_designs_and_clears_their_cookies(customer, store):
    pair(customer, store)
    design_id = start_design(customer)
    page = customer.get("/kiosk").text
    assert "Continue your design" in page and f"/d/{design_id}" in page
    visit = kiosks.paired(store, customer.cookies[KIOSK_COOKIE]).visit_id

    customer.cookies.set("left_behind", "customer-1", domain="testserver.local", path="/")
    answer = customer.post("/kiosk/reset")
    assert answer.status_code == 204
    assert answer.headers["clear-site-data"] == '"cache", "storage"'
    expired = [c for c in answer.headers.get_list("set-cookie") if c.startswith("left_behind=")]
    assert expired and ("Max-Age=0" in expired[0] or "expires=" in expired[0].lower())
    assert not any(c.startswith(f"{KIOSK_COOKIE}=") for c in answer.headers.get_list("set-cookie"))

    assert kiosks.paired(store, customer.cookies[KIOSK_COOKIE]).visit_id != visit      # a new anonymous visit
    page = customer.get("/kiosk").text
    assert "Continue your design" not in page and design_id not in page
    assert customer.get("/kiosk").status_code == 200                                      # still paired


def test_the_kiosk_s_design_page_carries_the_chrome_and_the_handoff_to_a_phone(settings, store):
    shop = load_settings(settings.data_dir, generator="sketch", public_url="https://design.example.com/",
                         kiosk_idle_seconds=45)
    app, _ = cli.build_apps(shop, store)
    with TestClient(app) as kiosk, TestClient(app) as phone:
        pair(kiosk, store)
        design_id = start_design(kiosk)
        page = kiosk.get(f"/d/{design_id}").text
        assert f'data-handoff-url="https://design.example.com/d/{design_id}"' in page and "<svg" in page
        assert 'data-idle-seconds="45"' in page and 'data-countdown-seconds="20"' in page
        assert "/static/kiosk.js" in page and "Still there?" in page and 'aria-live="assertive"' in page
        plain = phone.get(f"/d/{design_id}")
        assert plain.status_code == 200 and "kiosk-bar" not in plain.text and "/static/kiosk.js" not in plain.text


def test_the_handoff_uses_the_request_s_address_without_public_url(customer, store):
    pair(customer, store)
    design_id = start_design(customer)
    assert f'data-handoff-url="http://testserver/d/{design_id}"' in customer.get(f"/d/{design_id}").text


def test_opening_a_pairing_link_asks_first_and_only_the_button_pairs(customer, store):
    added = kiosks.add(store, "front-counter", actor="test")
    for _ in range(3):                       # a chat's link preview, a phone scanning the desk's code...
        asked = customer.get(f"/kiosk/pair/{added.pairing_token}", follow_redirects=False)
        assert asked.status_code == 200 and "Pair this screen as kiosk “front-counter”?" in asked.text
        assert "set-cookie" not in asked.headers and KIOSK_COOKIE not in customer.cookies
    form = asked.text.split('<form method="post" action="/kiosk/pair"')[1].split("</form>")[0]
    assert f'name="link" value="{added.pairing_token}"' in form and 'type="submit" id="kiosk-pair"' in form
    assert kiosks.listing(store)[0]["state"] == "waiting for pairing"               # the link is unspent
    paired = customer.post("/kiosk/pair", data={"link": added.pairing_token}, follow_redirects=False)
    assert paired.status_code == 303 and KIOSK_COOKIE in customer.cookies
    assert kiosks.listing(store)[0]["state"] == "paired"


def _silence(settings, seconds: float) -> None:
    """As if the kiosk's last request was `seconds` ago."""
    moment = (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat()
    with sqlite3.connect(settings.database_path) as db:
        db.execute("UPDATE kiosks SET visit_seen_at = ?", (moment,))


def test_a_kiosk_silent_longer_than_its_idle_time_and_countdown_starts_over_on_its_next_request(customer, store,
                                                                                                 settings):
    secret = pair(customer, store)
    design_id = start_design(customer)
    visit = kiosks.paired(store, secret).visit_id
    forget_after = kiosk_web.forget_after_seconds(settings)
    assert forget_after > settings.kiosk_idle_seconds + kiosk_web.COUNTDOWN_SECONDS
    # Its browser never said goodbye (the reset failed, Chromium restarted)...
    _silence(settings, forget_after - 10)
    assert "Continue your design" in customer.get("/kiosk").text                  # ...but it was not gone long
    with sqlite3.connect(settings.database_path) as db:
        noted = db.execute("SELECT visit_seen_at FROM kiosks").fetchone()[0]
    assert datetime.now(timezone.utc) - datetime.fromisoformat(noted) < timedelta(seconds=5)
    _silence(settings, forget_after + 1)
    page = customer.get("/kiosk").text
    assert "Continue your design" not in page and design_id not in page
    assert kiosks.paired(store, secret).visit_id != visit
    assert customer.get(f"/d/{design_id}").status_code == 200                     # the design itself stays


def test_the_start_page_listing_a_customer_s_designs_counts_down_at_once(customer, store):
    pair(customer, store)
    empty = customer.get("/kiosk").text
    assert 'data-arm-on-input="1"' in empty and 'id="kiosk-start-over"' not in empty
    start_design(customer)
    listed = customer.get("/kiosk").text
    assert "Continue your design" in listed
    assert "data-arm-on-input" not in listed and 'id="kiosk-start-over"' in listed


def test_a_design_made_step_by_step_at_the_kiosk_is_noted_against_its_visit(customer, store):
    answers = {"piece": "pendant", "metal": "18k_white", "stone": "sapphire", "accents": "halo", "shape": "oval",
               "carat": "1", "size": "500"}
    elsewhere = customer.post("/guided", data=answers, follow_redirects=False)       # not a kiosk yet
    assert elsewhere.status_code == 303
    pair(customer, store)
    created = customer.post("/guided", data=answers, follow_redirects=False)
    assert created.status_code == 303
    design_id = created.headers["location"].rsplit("/", 1)[1]
    page = customer.get("/kiosk").text
    assert "Continue your design" in page and f'href="/d/{design_id}"' in page
    assert elsewhere.headers["location"] not in page


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"])
def test_a_kiosk_on_loopback_without_public_url_shows_no_qr_code_only_a_note(settings, store, running_worker,
                                                                               base_url):
    app, _ = cli.build_apps(settings, store)
    with TestClient(app, base_url=base_url) as screen:
        pair(screen, store)
        design_id = start_design(screen)
        page = screen.get(f"/d/{design_id}").text
        assert "data-handoff-url" not in page and 'class="kiosk-qr"' not in page and "127.0.0.1" not in page
        assert 'id="kiosk-no-handoff"' in page and "order this design right here" in page
        wait_for_job(screen, jobs.latest_job(store, design_id).id)
        design = screen.get(f"/api/v1/designs/{design_id}").json()
        placed = screen.post(f"/d/{design_id}/order", headers={"HX-Request": "true"}, data={
            "name": "Ana", "email": "ana@example.com", "image_id": design["images"][0]["id"],
            "spec_revision": design["spec_revision"], "idempotency_key": "kiosk-loopback"})
        order_page = screen.get(placed.headers["HX-Redirect"]).text
        assert 'id="kiosk-done"' in order_page and 'id="kiosk-no-order-link"' in order_page
        assert "data-order-url" not in order_page and 'class="kiosk-qr"' not in order_page


def test_public_url_gives_a_loopback_kiosk_its_qr_codes(settings, store):
    shop = load_settings(settings.data_dir, generator="sketch", public_url="https://design.example.com")
    app, _ = cli.build_apps(shop, store)
    with TestClient(app, base_url="http://127.0.0.1:8080") as screen:
        pair(screen, store)
        design_id = start_design(screen)
        page = screen.get(f"/d/{design_id}").text
        assert f'data-handoff-url="https://design.example.com/d/{design_id}"' in page and 'class="kiosk-qr"' in page


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True),
                                           ("LOCALHOST.", True), ("kiosk.localhost", True), ("::1", True),
                                           ("[::1]", True), ("0.0.0.0", True), ("", True), (None, True),
                                           ("192.168.1.20", False), ("diamra.local", False),
                                           ("design.example.com", False), ("testserver", False), ("fe80::1", False)])
def test_loopback_hosts_are_told_apart_from_addresses_a_phone_can_open(host, loopback):
    assert kiosk_web.is_loopback(host) is loopback


def test_an_order_at_the_kiosk_shows_its_number_then_starts_over(customer, store, running_worker):
    pair(customer, store)
    design_id = start_design(customer)
    wait_for_job(customer, jobs.latest_job(store, design_id).id)
    design = customer.get(f"/api/v1/designs/{design_id}").json()
    placed = customer.post(f"/d/{design_id}/order", headers={"HX-Request": "true"}, data={
        "name": "Ana", "email": "ana@example.com", "image_id": design["images"][0]["id"],
        "spec_revision": design["spec_revision"], "idempotency_key": "kiosk-test"})
    assert placed.status_code == 200
    order_page = customer.get(placed.headers["HX-Redirect"])
    assert order_page.headers["cache-control"] == "no-store"
    assert 'id="kiosk-done"' in order_page.text and 'data-after-order-seconds="15"' in order_page.text
    assert 'id="kiosk-order-number"' in order_page.text and 'data-order-url="http://testserver/o/' in order_page.text


def test_a_kiosk_has_its_own_rate_limit_bucket_and_is_named_in_the_log(settings, store, caplog):
    shop = load_settings(settings.data_dir, generator="sketch", rate_limit_per_minute=3, kiosk_rate_limit_per_minute=8)
    app, _ = cli.build_apps(shop, store)
    with TestClient(app) as kiosk, TestClient(app) as visitor, caplog.at_level(logging.INFO, logger="diamra.access"):
        pair(kiosk, store)
        # Same address ("testclient") for both: the visitor's bucket runs dry, the kiosk's does not.
        assert [visitor.post("/find", data={"email": "x"}).status_code for _ in range(4)][-1] == 429
        codes = [kiosk.post("/kiosk/reset").status_code for _ in range(10)]
        assert codes[:8] == [204] * 8 and codes[8:] == [429, 429]
        lines = [r.getMessage() for r in caplog.records if r.name == "diamra.access"]
    assert any(line.startswith("testclient POST /kiosk/reset 204") and line.endswith(" kiosk=front-counter")
               for line in lines)
    assert any("429 rate limited kiosk=front-counter" in line for line in lines)
    assert any(line.startswith("testclient POST /find") and "kiosk=" not in line for line in lines)


def test_find_my_order_at_a_kiosk_is_limited_per_kiosk_not_by_the_store_s_shared_address(customer, store):
    visitor = TestClient(customer.app)                    # the same address ("testclient") as the kiosk
    pair(customer, store)

    def find(client, n):
        return client.post("/find", data={"email": f"customer{n}@example.com"}).status_code

    assert [find(customer, n) for n in range(11)] == [200] * 11                  # more than one address's hour
    assert [find(visitor, n) for n in range(11)] == [200] * 10 + [429]           # the address keeps its own
    assert [find(customer, n) for n in range(11, 60)] == [200] * 49
    assert find(customer, 60) == 429                                             # a shared screen's hour: 60
    assert customer.post("/api/v1/orders/lookup", json={"email": "late@example.com"}).status_code == 429


def test_pages_with_personal_data_are_never_stored(customer, store, running_worker):
    design = customer.post("/api/v1/designs", json={"description": "platinum ring with a 1 carat ruby"}).json()
    job = wait_for_job(customer, design["job"]["id"])
    order = customer.post(f"/api/v1/designs/{design['id']}/order", json={
        "image_id": job["images"][0]["id"], "name": "Ana", "email": "ana@example.com", "phone": "555 0100",
        "notes": "for my sister", "spec_revision": design["spec_revision"]}).json()
    answers = [customer.get(f"/d/{design['id']}"), customer.get(f"/o/{order['token']}"),
               customer.post("/find", data={"email": "ana@example.com"}), customer.get("/find"),
               customer.get(f"/api/v1/orders/{order['token']}")]
    pair(customer, store)
    answers += [customer.get(f"/d/{design['id']}"), customer.get(f"/o/{order['token']}?placed=1"),
                customer.get("/kiosk"), customer.post("/find", data={"email": "ana@example.com"})]
    for answer in answers:
        assert answer.status_code == 200, answer.request.url
        assert answer.headers["cache-control"] == "no-store", answer.request.url


@pytest.mark.parametrize("form,field", [({"description": ""}, "description"),
                                        ({"description": "ring " * 500}, "description"),
                                        ({"description": "gold ring", "piece_type": "spaceship"}, "piece_type")])
def test_bad_words_at_the_kiosk_are_named_beside_the_field_never_a_500(customer, store, form, field):
    pair(customer, store)
    page = customer.post("/kiosk/designs", data=form)
    fragment = customer.post("/kiosk/designs", data=form, headers={"HX-Request": "true"})
    for answer in (page, fragment):
        assert answer.status_code == 422 and 'id="kiosk-error"' in answer.text
        marked = answer.text.split('aria-invalid="true"')[0].rsplit("<", 1)[1]
        assert ('textarea id="kiosk-description"' in marked) == (field == "description")
        assert ("fieldset" in marked) == (field == "piece_type")
    assert 'id="kiosk-form"' in fragment.text and "<html" not in fragment.text


# ---------------------------------------------------------------- the staff Kiosks page

def login(client, name):
    answer = client.post("/api/v1/session", json={"username": name, "password": STAFF_PASSWORD})
    assert answer.status_code == 200
    return answer.json()["csrf_token"]


def test_an_admin_adds_a_kiosk_sees_its_link_once_and_revokes_it(staff, customer, store, jeweler):
    csrf = login(staff, jeweler)
    assert 'href="/staff/kiosks"' in staff.get("/").text
    refused = staff.post("/kiosks", data={"action": "add", "name": "front-counter"})
    assert refused.status_code == 403                                          # no CSRF token
    added = staff.post("/kiosks", data={"action": "add", "name": "front-counter", "csrf_token": csrf})
    assert added.status_code == 200 and 'id="pairing-url"' in added.text and "<svg" in added.text
    url = added.text.split('id="pairing-url">')[1].split("<")[0]
    assert url.startswith("http://testserver:8080/kiosk/pair/")
    listing = staff.get("/kiosks").text
    assert "waiting for pairing" in listing and "/kiosk/pair/" not in listing      # shown once only

    assert customer.get(url.removeprefix("http://testserver:8080")).status_code == 200        # asks first
    assert customer.post("/kiosk/pair", data={"link": url}, follow_redirects=False).status_code == 303
    assert "paired" in staff.get("/kiosks").text
    twice = staff.post("/kiosks", data={"action": "add", "name": "Front-Counter", "csrf_token": csrf})
    assert twice.status_code == 422 and "already exists" in twice.text and 'aria-invalid="true"' in twice.text

    revoked = staff.post("/kiosks", data={"action": "revoke", "name": "front-counter", "csrf_token": csrf},
                         follow_redirects=False)
    assert revoked.status_code == 303
    assert customer.get("/kiosk").status_code == 403
    gone = staff.post("/kiosks", data={"action": "revoke", "name": "front-counter", "csrf_token": csrf})
    assert gone.status_code == 404
    actions = [(e["action"], e["target"], e["actor"]) for e in staff.get("/api/v1/audit").json()["entries"]]
    assert actions[:2] == [("kiosk revoked", "front-counter", jeweler), ("kiosk added", "front-counter", jeweler)]


def test_the_kiosks_page_warns_that_phones_need_public_url(staff, jeweler, settings, store):
    login(staff, jeweler)
    warning = staff.get("/kiosks").text.split('id="kiosks-public-url">')[1].split("</p>")[0]
    assert "Phones need <code>public_url</code> set" in warning and "QR code" in warning
    shop = load_settings(settings.data_dir, generator="sketch", public_url="https://design.example.com")
    _, app = cli.build_apps(shop, store)
    with TestClient(app, base_url="http://testserver/staff") as desk:
        desk.cookies = staff.cookies
        page = desk.get("/kiosks")
        assert page.status_code == 200 and 'id="add-kiosk"' in page.text and "kiosks-public-url" not in page.text


def test_the_kiosks_api_adds_lists_and_revokes(staff_session, settings, store):
    client, headers = staff_session
    shop = load_settings(settings.data_dir, generator="sketch", public_url="https://design.example.com")
    _, app = cli.build_apps(shop, store)
    with TestClient(app, base_url="http://testserver/staff") as desk:
        desk.cookies = client.cookies
        made = desk.post("/api/v1/kiosks", json={"name": "window"}, headers=headers)
        assert made.status_code == 201
        assert made.json()["pairing_url"].startswith("https://design.example.com/kiosk/pair/")
    assert client.get("/api/v1/kiosks").json()["kiosks"][0] == {**client.get("/api/v1/kiosks").json()["kiosks"][0],
                                                              "name": "window", "state": "waiting for pairing"}
    assert client.post("/api/v1/kiosks", json={"name": "window"}, headers=headers).status_code == 409
    assert client.delete("/api/v1/kiosks/window", headers=headers).json() == {"revoked": "window"}
    assert client.get("/api/v1/kiosks").json()["kiosks"][0]["state"] == "revoked"
    assert client.delete("/api/v1/kiosks/window", headers=headers).status_code == 404
    assert client.delete("/api/v1/kiosks/window").status_code == 403                          # no CSRF header


@pytest.mark.parametrize("body,field", [({"name": "front counter!"}, "name"), ({"name": "x" * 41}, "name"),
                                        ({}, "name"), ({"name": "-lead"}, "name"),
                                        ({"name": "ok", "extra": 1}, "extra")])
def test_a_bad_kiosk_name_is_a_422_naming_the_field(staff_session, body, field):
    client, headers = staff_session
    answer = client.post("/api/v1/kiosks", json=body, headers=headers)
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == field


def test_the_page_names_a_bad_kiosk_name_and_an_unknown_action(staff, jeweler):
    csrf = login(staff, jeweler)
    bad = staff.post("/kiosks", data={"action": "add", "name": "front counter!", "csrf_token": csrf})
    assert bad.status_code == 422 and 'id="kiosks-error"' in bad.text and 'aria-invalid="true"' in bad.text
    odd = staff.post("/kiosks", data={"action": "explode", "name": "x", "csrf_token": csrf})
    assert odd.status_code == 422 and "Choose add or revoke" in odd.text


@pytest.mark.parametrize("method,path,body", [("get", "/kiosks", None), ("get", "/api/v1/kiosks", None),
                                              ("post", "/api/v1/kiosks", {"name": "window"}),
                                              ("delete", "/api/v1/kiosks/window", None)])
def test_a_jeweler_is_refused_the_kiosks(staff, store, jeweler, method, path, body):
    auth.create_user(store, "bench", STAFF_PASSWORD, "jeweler")
    csrf = login(staff, "bench")
    answer = getattr(staff, method)(path, headers={"X-CSRF-Token": csrf}, **({"json": body} if body else {}))
    assert answer.status_code == 403
    form = staff.post("/kiosks", data={"action": "add", "name": "window", "csrf_token": csrf})
    assert form.status_code == 403 and 'href="/staff/kiosks"' not in staff.get("/").text


ODD = st.one_of(st.sampled_from(["", " ", "0", "ring", "spaceship", "add", "revoke", "front-counter", "\x00",
                                 "é" * 300, "<script>x</script>", "x" * 3000, "/kiosk/pair/",
                                 "http://x/kiosk/pair/" + "a" * 32]),
                st.text(max_size=60))
FORM = st.dictionaries(st.sampled_from(["description", "piece_type", "link", "action", "name", "csrf_token", "other"]),
                       ODD, max_size=5)


def test_odd_kiosk_forms_never_get_a_server_error(customer, staff, store, jeweler):
    pair(customer, store)
    csrf = login(staff, jeweler)
    unpaired = TestClient(customer.app)

    @hypothesis_settings(max_examples=60, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
    @given(form=FORM, htmx=st.booleans(), with_csrf=st.booleans())
    def run(form, htmx, with_csrf):
        headers = {"HX-Request": "true"} if htmx else {}
        for client in (customer, unpaired):
            for path in ("/kiosk/designs", "/kiosk/pair", "/kiosk/reset"):
                assert client.post(path, data=form, headers=headers).status_code < 500
        answer = staff.post("/kiosks", data={**form, **({"csrf_token": csrf} if with_csrf else {})}, headers=headers)
        assert answer.status_code < 500
    run()
