"""Fuzzing both apps over real HTTP, as the outside probe did, within a bounded budget:
schemathesis generates requests from each app's OpenAPI document (the staff app logged
in), and hypothesis fills every HTML form route with odd fields and values. No answer may
be a server error, and a 422 names its field.

Path ids are half the time real (a design with concepts, its order, a job, an upload) so
the fuzz reaches the code behind the 404s."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from appliance import cli
from appliance.config import load_settings
from appliance.ops import auth
from tests.conftest import STAFF_PASSWORD
from tests.live import LiveServer, wait_for_job_over_http
from web import bench, customer, following, guide, kiosk, kiosks_staff, price_book, staff, versions

EXAMPLES_PER_OPERATION = 30
EXAMPLES_PER_FORM = 40
TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"

FUZZ = hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                           suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """Both apps on loopback ports with the embedded worker, a design with concepts, its
    order, a reference photo, and a logged-in staff session."""
    data = tmp_path_factory.mktemp("fuzz")
    settings = load_settings(data, generator="sketch", image_size=96, rate_limit_per_minute=10**9,
                             max_queued_per_design=1000)
    store = cli.open_appliance(settings)
    worker = cli.build_worker(settings, store)
    worker.poll_seconds = 0.05
    worker.start_thread()
    customer_app, staff_app = cli.build_apps(settings, store)
    auth.create_user(store, "jeweler", STAFF_PASSWORD, "admin")
    with LiveServer(customer_app) as customer_server, LiveServer(staff_app) as staff_server:
        design = httpx.post(customer_server.url + "/api/v1/designs",
                            json={"description": "14k rose gold ring, oval lab diamond about 1.5 carat"}).json()
        job = wait_for_job_over_http(customer_server.url, design["job"]["id"])
        image_id = job["images"][0]["id"]
        order = httpx.post(f"{customer_server.url}/api/v1/designs/{design['id']}/order",
                           json={"image_id": image_id, "spec_revision": design["spec_revision"], "name": "Ana",
                                 "email": "ana@example.com"}).json()
        photo = httpx.post(f"{customer_server.url}/api/v1/designs/{design['id']}/references",
                           files={"file": ("r.png", _png(), "image/png")}).json()
        login = httpx.post(staff_server.url + "/staff/api/v1/session",
                           json={"username": "jeweler", "password": STAFF_PASSWORD})
        attachment = httpx.post(f"{staff_server.url}/staff/api/v1/orders/{order['number']}/attachments",
                                headers={"Cookie": f"diamra_staff_session={login.cookies['diamra_staff_session']}",
                                         "X-CSRF-Token": login.json()["csrf_token"]},
                                files={"file": ("cad.png", _png(), "image/png")},
                                data={"kind": "cad", "shown_to_customer": "yes"}).json()
        yield {
            "customer": customer_server.url, "staff": staff_server.url,
            "staff_headers": {"Cookie": f"diamra_staff_session={login.cookies['diamra_staff_session']}",
                              "X-CSRF-Token": login.json()["csrf_token"]},
            "csrf": login.json()["csrf_token"],
            "real": {"design_id": design["id"], "job_id": design["job"]["id"], "image_id": image_id,
                     "token": order["token"], "number": str(order["number"]), "upload_id": photo["id"],
                     "action": "messages", "what": "plan", "attachment_id": attachment["id"]},
        }
    worker.stop()
    store.close()


def _png() -> bytes:
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 160, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def _no_server_error(response: httpx.Response | object, label: str) -> None:
    status = response.status_code
    assert status < 500, f"{label} -> {status}: {response.text[:300]}"
    kind = response.headers.get("content-type", "")
    kind = kind[0] if isinstance(kind, list) else kind        # schemathesis keeps each header as a list
    if status == 422 and kind.startswith("application/json"):
        detail = response.json()["detail"]
        assert isinstance(detail, str) or all(item.get("field") for item in detail), f"{label}: {detail}"


def _operations(url: str, headers: dict | None = None):
    schema = schemathesis.openapi.from_url(url, headers=headers or {})
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("app", ["customer", "staff"])
def test_schemathesis_finds_no_server_error(shop, app):
    base = shop[app]
    headers = shop["staff_headers"] if app == "staff" else {}
    operations = _operations(f"{base}/staff/openapi.json" if app == "staff" else f"{base}/openapi.json", headers)
    assert len(operations) >= 12
    tried = 0
    for operation in operations:
        if (operation.method.upper(), operation.path) == ("DELETE", "/staff/api/v1/session"):
            continue          # logging out would leave the rest of the run without a session

        @FUZZ
        @given(case=operation.as_strategy(), real=st.booleans())
        def run(case, real):
            nonlocal tried
            for name in list(case.path_parameters or {}):
                if real and name in shop["real"]:
                    case.path_parameters[name] = shop["real"][name]
            response = case.call(base_url=base, headers=headers)
            tried += 1
            _no_server_error(response, f"{case.method} {case.formatted_path}")
        run()
    assert tried >= len(operations) * 5


def _form_routes(router) -> list[str]:
    """Every POST route of a page router (the HTML forms, not the JSON API)."""
    return [route.path for route in router.routes if "POST" in getattr(route, "methods", ())]


def _field_names() -> list[str]:
    """Every field name the pages' forms use (template loops filled with 0 and 1), and
    names no form has."""
    names = set()
    for template in TEMPLATES.rglob("*.html"):
        for name in re.findall(r'name="([^"]+)"', template.read_text()):
            if "{{ i }}" in name:
                names |= {name.replace("{{ i }}", "0"), name.replace("{{ i }}", "1")}
            elif "{{" not in name:
                names.add(name)
    return sorted(names | {"stones-9-type", "labor.ring.plain", "markup.metal", "metals.14k_yellow.price_per_gram",
                           "a.b.c", "csrf_token.x", "", "option"})


ODD_VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1/0", "NaN", "inf", "-1e309", "1e309", "9" * 40, "0x10", "1,5", " 7 ",
                     "14k_yellow", "ring", "pendant", "spaceship", "oval", "center", "accent", "lab_diamond",
                     "accepted", "completed", "<script>x</script>", "a@b.co?bcc=x%40evil.com", "\x00", "é" * 300,
                     "[[0, 2.5]]", "[[\"x\"]]", "{}", "1", "2", "true"]),
    st.text(max_size=60),
)


def test_every_form_route_answers_odd_input_without_a_server_error(shop):
    names = _field_names()
    routes = [("customer", path) for router in (customer.pages, following.pages, versions.pages, guide.pages,
                                                kiosk.pages) for path in _form_routes(router)] + \
        [("staff", path) for router in (staff.pages, bench.pages, price_book.pages,
                                            kiosks_staff.pages) for path in _form_routes(router)]
    assert len(routes) >= 14, routes
    sent = 0
    for app, path in routes:
        if path == "/staff/logout":
            continue          # it would end the session the rest of the run uses
        base = shop[app]

        @hypothesis_settings(max_examples=EXAMPLES_PER_FORM, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(HealthCheck))
        @given(form=st.dictionaries(st.sampled_from(names), ODD_VALUES, max_size=8), real=st.booleans(),
               htmx=st.booleans(), multipart=st.booleans(), with_csrf=st.booleans())
        def run(form, real, htmx, multipart, with_csrf):
            nonlocal sent
            url = path
            for name in re.findall(r"{(\w+)}", path):
                value = shop["real"][name] if real else "xX_" + name
                if name in ("action", "what"):
                    value = shop["real"][name] if real else "launch"
                url = url.replace("{" + name + "}", value)
            headers = {"HX-Request": "true"} if htmx else {}
            if app == "staff":
                headers["Cookie"] = shop["staff_headers"]["Cookie"]
                if with_csrf:
                    form = {**form, "csrf_token": shop["csrf"]}
            if multipart:
                response = httpx.post(base + url, data=form, headers=headers,
                                      files={"photo": ("p.png", _png(), "image/png"),
                                             "file": ("f.png", _png(), "image/png")})
            else:
                response = httpx.post(base + url, data=form, headers=headers)
            sent += 1
            _no_server_error(response, f"POST {url} {form}")
        run()
    assert sent >= (len(routes) - 1) * EXAMPLES_PER_FORM // 2
