"""Forwarded headers behind a tunnel: believed only from the configured proxy, so a
client's own X-Forwarded-For changes neither its rate limit nor the logged address."""

import logging

import httpx
import pytest

from appliance import cli
from appliance.config import load_settings
from tests.conftest import STAFF_PASSWORD
from tests.live import LiveServer


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(**overrides):
        settings = load_settings(tmp_path / f"data{len(started)}", generator="sketch", **overrides)
        store = cli.open_appliance(settings)
        customer, staff = cli.build_apps(settings, store)
        servers = (LiveServer(customer).__enter__(), LiveServer(staff).__enter__())
        started.append((servers, store))
        return settings, store, servers
    yield start
    for servers, store in started:
        for server in servers:
            server.__exit__(None, None, None)
        store.close()


def post_designs(url: str, n: int, forwarded=lambda i: None) -> list[int]:
    codes = []
    with httpx.Client(base_url=url) as client:
        for i in range(n):
            headers = {"X-Forwarded-For": forwarded(i)} if forwarded(i) else {}
            codes.append(client.post("/api/v1/designs", json={"description": "platinum ring with a ruby"},
                                     headers=headers).status_code)
    return codes


def test_a_spoofed_forwarded_for_does_not_escape_the_rate_limit(serve, caplog):
    _, _, (customer, _) = serve(rate_limit_per_minute=5)
    with caplog.at_level(logging.INFO, logger="diamra.access"):
        codes = post_designs(customer.url, 8, forwarded=lambda i: f"203.0.113.{i}")
    assert codes[:5] == [201] * 5 and codes[5:] == [429] * 3
    lines = [r.getMessage() for r in caplog.records if "/api/v1/designs" in r.getMessage()]
    assert lines and all(line.startswith("127.0.0.1 ") for line in lines)
    assert not any("203.0.113" in line for line in lines)


def test_behind_a_trusted_proxy_each_client_is_counted_and_logged_by_its_own_address(serve, caplog):
    _, _, (customer, _) = serve(rate_limit_per_minute=5, trusted_proxies="127.0.0.1")
    with caplog.at_level(logging.INFO, logger="diamra.access"):
        codes = post_designs(customer.url, 8, forwarded=lambda i: f"198.51.100.{i}, 203.0.113.{i}")
    assert codes == [201] * 8                                # eight clients, one request each
    assert any(r.getMessage().startswith("203.0.113.7 POST /api/v1/designs 201") for r in caplog.records)
    limited = post_designs(customer.url, 7, forwarded=lambda i: "203.0.113.99")
    assert limited.count(429) == 2


def test_cookies_are_secure_when_the_proxy_got_https(serve):
    settings, store, (_, staff) = serve(trusted_proxies="127.0.0.1")
    from appliance.ops import auth
    auth.create_user(store, "maria", STAFF_PASSWORD)
    with httpx.Client(base_url=staff.url + "/staff") as client:
        plain = client.post("/api/v1/session", json={"username": "maria", "password": STAFF_PASSWORD})
        assert all("Secure" not in c for c in plain.headers.get_list("set-cookie"))
        tls = client.post("/api/v1/session", json={"username": "maria", "password": STAFF_PASSWORD},
                          headers={"X-Forwarded-Proto": "https"})
        assert all("Secure" in c for c in tls.headers.get_list("set-cookie"))


def test_an_untrusted_client_cannot_claim_https_or_staff(serve):
    settings, store, (_, staff) = serve()
    from appliance.ops import auth
    auth.create_user(store, "maria", STAFF_PASSWORD)
    with httpx.Client(base_url=staff.url + "/staff") as client:
        response = client.post("/api/v1/session", json={"username": "maria", "password": STAFF_PASSWORD},
                               headers={"X-Forwarded-Proto": "https"})
        assert all("Secure" not in c for c in response.headers.get_list("set-cookie"))
        anonymous = httpx.get(staff.url + "/staff/api/v1/orders", headers={"X-Forwarded-For": "127.0.0.1"})
        assert anonymous.status_code == 401                  # loopback is no login


def test_hsts_is_sent_only_when_the_trusted_proxy_got_https(serve):
    _, _, (customer, _) = serve(trusted_proxies="127.0.0.1")
    with httpx.Client(base_url=customer.url) as client:
        assert "strict-transport-security" not in client.get("/").headers
        tls = client.get("/", headers={"X-Forwarded-Proto": "https"})
        assert tls.headers["strict-transport-security"] == "max-age=31536000"
    _, _, (untrusted, _) = serve()
    claimed = httpx.get(untrusted.url + "/", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in claimed.headers
