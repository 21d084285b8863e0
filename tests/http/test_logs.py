"""Logs never hold a capability in full: design, job, image ids and order tokens appear as
their first six characters only, in the access log and in the application's own lines."""

import logging

from tests.conftest import wait_for_job


def test_no_log_line_holds_a_full_capability(customer, running_worker, caplog):
    caplog.set_level(logging.INFO)
    design = customer.post("/api/v1/designs", json={"description": "platinum ring with a 1 carat ruby"}).json()
    job = wait_for_job(customer, design["job"]["id"])
    image = job["images"][0]["id"]
    customer.get(f"/images/{image}.png")
    customer.get(f"/d/{design['id']}")
    order = customer.post(f"/api/v1/designs/{design['id']}/order", json={
        "image_id": image, "name": "Ana", "email": "ana@example.com", "spec_revision": design["spec_revision"]}).json()
    customer.get(f"/api/v1/orders/{order['token']}")
    customer.get(f"/o/{order['token']}")
    # The appliance's own lines (the test client's httpx logs its requests in full; a store never runs it).
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "diamra.access" in {r.name for r in caplog.records} and design["id"][:6] in text
    for capability in (design["id"], design["job"]["id"], image, order["token"]):
        assert capability not in text, capability
