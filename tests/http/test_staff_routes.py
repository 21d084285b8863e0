"""Every route of the staff app asks who is there: anonymous callers get 401 (API) or
the login page (pages) on every route but the login itself, and a write without the
session's CSRF token is refused."""

import re

import pytest

from web import bench, people, price_book, staff

OPEN = {"/staff/login", "/staff/api/v1/session"}


def routes():
    found = []
    for router in (staff.pages, staff.api, bench.pages, bench.api, price_book.pages, people.pages, people.api):
        for route in router.routes:
            for method in sorted(route.methods - {"HEAD"}):
                if route.path not in OPEN:
                    found.append((method, route.path))
    return found


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: {"number": "1001", "action": "accept", "what": "plan"}.get(m[1], "abc"), path)


ROUTES = routes()


def test_the_route_list_is_the_whole_staff_app():
    assert len(ROUTES) >= 45
    assert ("GET", "/staff/") in ROUTES and ("PATCH", "/staff/api/v1/users/{username}") in ROUTES


@pytest.mark.parametrize("method,path", ROUTES)
def test_anonymous_callers_are_refused_everywhere(staff, method, path):
    answer = staff.request(method, "http://testserver" + concrete(path), follow_redirects=False)
    if "/api/" in path:
        assert answer.status_code == 401, (method, path, answer.status_code)
    else:
        assert answer.status_code == 303 and answer.headers["location"] == "/staff/login", (method, path)


@pytest.mark.parametrize("method,path", [r for r in ROUTES if r[0] != "GET"])
def test_writes_without_the_csrf_token_are_refused(staff_session, method, path):
    client, _ = staff_session
    answer = client.request(method, "http://testserver" + concrete(path), follow_redirects=False)
    assert answer.status_code == 403, (method, path, answer.status_code)
