"""Mail both ways, through a real SMTP server (aiosmtpd on a loopback port): each order
event mails the right person with a working private link, a refusal is retried, a dead
server never costs an order and shows on the desk, and "find my order" tells no one who
ordered."""

from __future__ import annotations

import email
import email.policy
import re
import ssl
import time

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient

from appliance import cli
from appliance.config import SettingsError, load_settings
from appliance.ops import auth
from tests.conftest import STAFF_PASSWORD, wait_for_job
from tests.live import free_port

COST_WORDS = ("cost", "margin", "markup", "flags")


class Inbox:
    """An aiosmtpd handler that keeps every mail and can refuse the next few."""

    def __init__(self):
        self.mails: list[email.message.EmailMessage] = []
        self.refuse_next = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.mails.append(message)
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.mails if m["To"] == address]

    def wait_for(self, count: int, timeout: float = 15) -> list:
        deadline = time.monotonic() + timeout
        while len(self.mails) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.mails) >= count, [m["Subject"] for m in self.mails]
        return self.mails


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def shop_settings(tmp_path, port: int, **more):
    values = dict(generator="sketch", image_size=96, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                  mail_from="shop@example.com", store_email="desk@example.com", public_url="https://design.example.com",
                  store_name="Rose & Anvil")
    values.update(more)
    return load_settings(tmp_path / "data", **values)


class Shop:
    def __init__(self, settings):
        self.settings = settings
        self.store = cli.open_appliance(settings)
        self.worker = cli.build_worker(settings, self.store)
        self.worker.poll_seconds = 0.05
        self.worker.start_thread()
        self.sender = cli.build_mail_sender(settings, self.store)
        if self.sender:
            self.sender.every_seconds, self.sender.retry_first_seconds = 0.2, 0.2
            self.sender.start()
        customer_app, staff_app = cli.build_apps(settings, self.store, self.sender)
        self.customer = TestClient(customer_app).__enter__()
        self.staff = TestClient(staff_app, base_url="http://testserver/staff").__enter__()
        auth.create_user(self.store, "jeweler", STAFF_PASSWORD, "admin")
        login = self.staff.post("/api/v1/session", json={"username": "jeweler", "password": STAFF_PASSWORD})
        self.csrf = {"X-CSRF-Token": login.json()["csrf_token"]}

    def order(self, email_address="ana@example.com", name="Ana Lima"):
        design = self.customer.post("/api/v1/designs", json={
            "description": "rose gold ring, oval lab diamond about 1.5 carat"}).json()
        image_id = wait_for_job(self.customer, design["job"]["id"])["images"][0]["id"]
        placed = self.customer.post(f"/api/v1/designs/{design['id']}/order", json={
            "image_id": image_id, "spec_revision": design["spec_revision"], "name": name, "email": email_address,
            "phone": "+1 555 0100", "notes": "For our anniversary"})
        assert placed.status_code == 201, placed.text
        return {**placed.json(), "design_id": design["id"], "image_id": image_id}

    def outbox(self):
        return self.store.query("SELECT * FROM outbox ORDER BY id")

    def settled_outbox(self, timeout: float = 10):
        """The outbox once the sender has marked what it delivered (it does so just after
        the server accepts a mail, so a test that saw the mail arrive may be a moment early)."""
        deadline = time.monotonic() + timeout
        while any(r["status"] == "pending" for r in self.outbox()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.outbox()

    def close(self):
        self.customer.__exit__(None, None, None)
        self.staff.__exit__(None, None, None)
        if self.sender:
            self.sender.stop()
        self.worker.stop()
        self.store.close()


@pytest.fixture
def shop(tmp_path, inbox):
    made = Shop(shop_settings(tmp_path, inbox[1]))
    yield made
    made.close()


def test_a_new_order_mails_the_customer_their_link_and_alerts_the_store(shop, inbox):
    box, _ = inbox
    order = shop.order()
    box.wait_for(2)
    (received,) = box.to("ana@example.com")
    assert received["Subject"] == f"We received your order #{order['number']} — Rose & Anvil"
    assert received["From"] == "Rose & Anvil <shop@example.com>"
    link = f"https://design.example.com/o/{order['token']}"
    assert link in text_of(received) and f'href="{link}"' in html_of(received)
    assert shop.customer.get(link.replace("https://design.example.com", "")).status_code == 200   # it works
    (alert,) = box.to("desk@example.com")
    assert alert["Subject"].startswith(f"New order #{order['number']} from Ana Lima")
    body = text_of(alert)
    assert "rose gold ring, oval lab diamond" in body and "ana@example.com" in body and "anniversary" in body
    for mail in box.mails:
        words = (text_of(mail) + html_of(mail)).lower()
        assert not any(word in words for word in COST_WORDS), mail["Subject"]
    assert all(row["status"] == "sent" for row in shop.settled_outbox())


def test_every_event_of_an_order_mails_the_other_side(shop, inbox):
    box, _ = inbox
    order = shop.order()
    number, token = order["number"], order["token"]
    box.wait_for(2)
    shop.staff.post(f"/api/v1/orders/{number}/request-changes", json={"message": "A thinner band would suit it."},
                    headers=shop.csrf)
    box.wait_for(3)
    assert "A thinner band would suit it." in text_of(box.mails[-1]) and box.mails[-1]["To"] == "ana@example.com"
    shop.customer.post(f"/api/v1/orders/{token}/messages", json={"body": "Yes, 1.5 mm please."})
    box.wait_for(4)
    assert box.mails[-1]["To"] == "desk@example.com" and "Yes, 1.5 mm please." in text_of(box.mails[-1])
    revised = shop.customer.post(f"/api/v1/orders/{token}/revision", json={"image_id": order["image_id"]})
    assert revised.status_code == 201
    box.wait_for(5)
    assert box.mails[-1]["To"] == "desk@example.com" and "revised" in box.mails[-1]["Subject"]
    accepted = shop.staff.post(f"/api/v1/orders/{number}/accept", json={"note": "Lovely choice."}, headers=shop.csrf)
    box.wait_for(6)
    mail = box.mails[-1]
    deposit = accepted.json()["quote"]["deposit"]
    assert mail["Subject"].startswith(f"Your order #{number} is accepted")
    assert f"deposit of ${float(deposit):,.2f}" in text_of(mail) and "Lovely choice." in text_of(mail)
    shop.staff.post(f"/api/v1/orders/{number}/messages", json={"body": "Casting is on Tuesday."}, headers=shop.csrf)
    for status, subject in (("in_production", "is being made"), ("ready", "is ready for pickup")):
        shop.staff.post(f"/api/v1/orders/{number}/status", json={"status": status}, headers=shop.csrf)
    box.wait_for(9)
    subjects = [m["Subject"] for m in box.mails[6:9]]
    assert "Casting is on Tuesday." in text_of(box.mails[6])
    assert "is being made" in subjects[1] and "is ready for pickup" in subjects[2]
    assert all(m["To"] == "ana@example.com" and f"/o/{token}" in text_of(m) for m in box.mails[6:9])

    other = shop.order("bo@example.com", "Bo Chen")
    shop.staff.post(f"/api/v1/orders/{other['number']}/decline", json={"reason": "We cannot set that stone."},
                    headers=shop.csrf)
    box.wait_for(12)
    declined = box.to("bo@example.com")[-1]
    assert "could not be accepted" in declined["Subject"] and "We cannot set that stone." in text_of(declined)


def test_the_pages_mail_too(shop, inbox):
    box, _ = inbox
    order = shop.order()
    box.wait_for(2)
    page = shop.customer.post(f"/o/{order['token']}/messages", data={"body": "From the page"},
                              follow_redirects=False)
    assert page.status_code == 303
    box.wait_for(3)
    assert "From the page" in text_of(box.mails[-1])
    shop.staff.post(f"/orders/{order['number']}/accept", data={"body": "", "csrf_token": shop.csrf["X-CSRF-Token"]},
                    follow_redirects=False)
    box.wait_for(4)
    assert box.mails[-1]["Subject"].startswith(f"Your order #{order['number']} is accepted")


def test_a_refusal_is_retried_and_delivered(shop, inbox):
    box, _ = inbox
    box.refuse_next = 1
    order = shop.order()
    box.wait_for(2)
    rows = shop.settled_outbox()
    assert {r["to_address"] for r in rows} == {"ana@example.com", "desk@example.com"}
    assert all(r["status"] == "sent" for r in rows) and max(r["attempts"] for r in rows) == 2
    assert len(box.to("ana@example.com")) == 1 and order["number"] == 1001      # delivered once, not twice


def test_with_the_mail_server_down_the_order_is_placed_and_the_desk_shows_why(tmp_path):
    port = free_port()                       # nothing listens here yet
    shop = Shop(shop_settings(tmp_path, port))
    try:
        order = shop.order()
        assert order["number"] == 1001
        deadline = time.monotonic() + 10
        while not all(r["attempts"] for r in shop.outbox()) and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = shop.outbox()
        assert len(rows) == 2 and all(r["status"] == "pending" and "cannot reach the mail server" in r["last_error"]
                                      for r in rows)
        page = shop.staff.get("/").text
        assert 'id="mail-trouble"' in page and "cannot reach the mail server" in page and "ana@example.com" in page
        listed = shop.staff.get("/api/v1/mail").json()
        assert listed["on"] and listed["retrying"] == 2 and listed["mails"][0]["last_error"]

        box = Inbox()
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            assert shop.staff.post("/api/v1/mail/retry", headers=shop.csrf).json()["requeued"] == 2
            box.wait_for(2)
            assert 'id="mail-trouble"' not in shop.staff.get("/").text
        finally:
            controller.stop()
    finally:
        shop.close()


def test_without_smtp_nothing_is_queued_and_the_desk_says_mail_is_off(tmp_path):
    settings = load_settings(tmp_path / "data", generator="sketch", image_size=96)
    shop = Shop(settings)
    try:
        shop.order()
        assert shop.outbox() == [] and shop.sender is None
        assert 'id="mail-off"' in shop.staff.get("/").text
        assert shop.staff.get("/api/v1/mail").json() == {"on": False, "retrying": 0, "failed": 0, "mails": []}
        answer = shop.customer.post("/find", data={"email": "ana@example.com"})
        assert answer.status_code == 200 and "does not send e-mail" in answer.text
    finally:
        shop.close()


def test_find_my_order_mails_the_links_and_tells_no_one_who_ordered(shop, inbox):
    box, _ = inbox
    first, second = shop.order(), shop.order()
    box.wait_for(4)
    known = shop.customer.post("/find", data={"email": "ANA@example.com"})
    unknown = shop.customer.post("/find", data={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    answer = re.search(r'id="find-answer">([^<]*)<', known.text).group(1)
    assert re.search(r'id="find-answer">([^<]*)<', unknown.text).group(1) == answer
    box.wait_for(5)
    time.sleep(0.5)
    assert len(box.mails) == 5 and box.to("nobody@example.com") == []            # no mail to strangers
    links = text_of(box.mails[-1])
    assert box.mails[-1]["To"] == "ana@example.com"
    for order in (first, second):
        assert f"https://design.example.com/o/{order['token']}" in links
    api = shop.customer.post("/api/v1/orders/lookup", json={"email": "nobody@example.com"})
    assert api.status_code == 202 and api.json()["detail"] == answer
    assert shop.customer.post("/find", data={"email": "a@b.co?bcc=x%40evil.com"}).status_code == 422
    bad = shop.customer.post("/api/v1/orders/lookup", json={"email": "not an address"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "email"


def test_find_my_order_is_rate_limited_per_address(shop):
    codes = [shop.customer.post("/find", data={"email": "cy@example.com"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert shop.customer.post("/api/v1/orders/lookup", json={"email": "cy@example.com"}).status_code == 429
    assert shop.customer.post("/find", data={"email": "dee@example.com"}).status_code == 200


# ---------------------------------------------------------------- TLS and login

@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """A STARTTLS or implicit-TLS server with its own CA, trusted through SSL_CERT_FILE
    (which the sender's default SSL context reads), and a login."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    def authenticator(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == b"shop" and data.password == b"s3cret smtp"
        return AuthResult(success=ok, handled=False)   # aiosmtpd answers 535 itself on a failure

    started = []

    def start(kind: str):
        box = Inbox()
        port = free_port()
        if kind == "starttls":
            controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                                    authenticator=authenticator, auth_require_tls=True)
        else:
            controller = Controller(box, hostname="127.0.0.1", port=port, ssl_context=context,
                                    authenticator=authenticator, auth_require_tls=False)
        controller.start()
        started.append(controller)
        return box, port

    yield start
    for controller in started:
        controller.stop()


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_mail_goes_over_tls_with_a_login_from_the_password_file(tmp_path, tls_server, security):
    box, port = tls_server(security)
    password = tmp_path / "smtp-password"
    password.write_text("s3cret smtp\n")
    shop = Shop(shop_settings(tmp_path, port, smtp_security=security, smtp_user="shop",
                              smtp_password_file=str(password)))
    try:
        shop.order()
        box.wait_for(2)
        assert {m["To"] for m in box.mails} == {"ana@example.com", "desk@example.com"}
    finally:
        shop.close()


def test_a_wrong_password_shows_the_servers_answer(tmp_path, tls_server):
    box, port = tls_server("starttls")
    password = tmp_path / "smtp-password"
    password.write_text("not it")
    shop = Shop(shop_settings(tmp_path, port, smtp_security="starttls", smtp_user="shop",
                              smtp_password_file=str(password)))
    try:
        shop.order()
        deadline = time.monotonic() + 10
        while not all(r["last_error"] for r in shop.outbox()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(r["last_error"].startswith("535") for r in shop.outbox()) and box.mails == []
    finally:
        shop.close()


def test_mail_settings_that_cannot_work_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="public_url"):
        load_settings(tmp_path, smtp_host="mail.example.com", mail_from="a@example.com")
    with pytest.raises(SettingsError, match="mail_from"):
        load_settings(tmp_path, smtp_host="mail.example.com", public_url="https://x.example")
    with pytest.raises(SettingsError, match="smtp_security"):
        load_settings(tmp_path, smtp_security="ssl3")
    with pytest.raises(SettingsError, match="smtp_password_file"):
        load_settings(tmp_path, smtp_host="m.example.com", mail_from="a@example.com", public_url="https://x.example",
                      smtp_user="shop")



def test_a_cancellation_and_its_undoing_are_mailed_with_the_reason(shop, inbox):
    box, _ = inbox
    order = shop.order()
    box.wait_for(2)
    n = order["number"]
    shop.staff.post(f"/api/v1/orders/{n}/cancel", json={"reason": "The stone is no longer available.",
                                                        "confirm": True}, headers=shop.csrf)
    box.wait_for(3)
    assert "is cancelled" in box.mails[-1]["Subject"]
    assert "The stone is no longer available." in text_of(box.mails[-1])
    shop.staff.post(f"/api/v1/orders/{n}/undo-cancel", json={"confirm": True}, headers=shop.csrf)
    box.wait_for(4)
    assert "is active again" in box.mails[-1]["Subject"] and box.mails[-1]["To"] == "ana@example.com"


def test_a_cad_render_to_approve_is_mailed_and_the_approval_reaches_the_store(shop, inbox):
    import io as _io

    from PIL import Image
    box, _ = inbox
    order = shop.order()
    box.wait_for(2)
    buffer = _io.BytesIO()
    Image.new("RGB", (600, 600), (200, 170, 90)).save(buffer, format="PNG")
    made = shop.staff.post(f"/api/v1/orders/{order['number']}/attachments", headers=shop.csrf,
                           files={"file": ("cad.png", buffer.getvalue(), "image/png")},
                           data={"kind": "cad", "shown_to_customer": "yes"}).json()
    box.wait_for(3)
    assert box.mails[-1]["Subject"].startswith(f"Please approve the design for your order #{order['number']}")
    assert box.mails[-1]["To"] == "ana@example.com"
    shop.staff.post(f"/api/v1/orders/{order['number']}/attachments", headers=shop.csrf,
                    files={"file": ("bench.png", buffer.getvalue(), "image/png")}, data={"kind": "photo"})
    shop.customer.post(f"/api/v1/orders/{order['token']}/attachments/{made['id']}/approve")
    box.wait_for(4)
    time.sleep(0.3)
    assert len(box.mails) == 4                         # the bench-only photo mailed no one
    assert box.mails[-1]["To"] == "desk@example.com" and "approved the CAD render" in box.mails[-1]["Subject"]
