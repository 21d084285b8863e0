import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.errors import Conflict, Invalid
from appliance.jewelry.specs import Spec
from appliance.studio import designs, jobs, orders, price_books


@pytest.fixture
def design_with_image(store, worker):
    design = designs.create_design(store, "14k rose gold ring with a 1.5 carat oval lab diamond, size 6")
    jobs.enqueue(store, design.id, count=1)
    worker.run_once()
    return design, designs.images(store, design.id)[0]


@pytest.fixture
def order(store, design_with_image):
    design, image = design_with_image
    contact = orders.check_contact("Ana", "ana@example.com", None, "for our anniversary")
    return orders.place_order(store, design.id, image.id, contact, spec_revision=design.spec_revision)


def test_placing_an_order_records_the_snapshot_and_the_first_event(order):
    assert order["number"] == 1001 and order["status"] == "submitted"
    assert order["current"]["quote"]["total"] and "cost_total" in order["current"]["quote"]
    assert [(e["kind"], e["to_status"], e["actor"]) for e in order["events"]] == [("status", "submitted", "customer")]


def test_the_quote_snapshot_does_not_follow_later_price_changes(store, order):
    book = price_books.current(store).book
    price_books.save(store, {**book, "markup": {**book["markup"], "stone": [["0", "3.5"]]}}, created_by="test")
    again = orders.get_order(store, number=order["number"])
    assert again["current"]["quote"] == order["current"]["quote"]
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        with store.write() as db:
            db.execute("UPDATE order_versions SET quote_json = '{}'")


@pytest.mark.parametrize("path,allowed", [
    (["accepted", "in_production", "ready", "completed"], True),
    (["declined"], True),
    (["changes_requested", "cancelled"], True),
    (["accepted", "completed"], False),
    (["declined", "accepted"], False),
    (["ready"], False),
])
def test_the_state_machine(store, order, path, allowed):
    def walk():
        for status in path:
            orders.transition(store, order["number"], status, actor_name="jeweler", body="why" if status in
                              ("declined", "changes_requested", "cancelled") else None)
    if allowed:
        walk()
        events = orders.get_order(store, number=order["number"])["events"]
        assert [e["to_status"] for e in events[1:]] == path and all(e["actor"] == "staff" for e in events[1:])
    else:
        with pytest.raises(Conflict):
            walk()


def test_a_change_request_needs_a_message(store, order):
    with pytest.raises(Invalid) as info:
        orders.transition(store, order["number"], "changes_requested", actor_name="j", body=" ",
                          body_field="message", body_required=True)
    assert info.value.field == "message"


def test_resubmitting_after_a_change_request_adds_a_version(store, worker, order, design_with_image):
    design, first_image = design_with_image
    orders.transition(store, order["number"], "changes_requested", actor_name="j", body="thinner band please")
    jobs.enqueue(store, design.id, count=1, parent_image_id=first_image.id)
    worker.run_once()
    new_image = designs.images(store, design.id)[-1]
    revised = orders.resubmit(store, order["token"], new_image.id)
    assert revised["status"] == "submitted" and revised["current_version"] == 2
    assert [v["image_id"] for v in revised["versions"]] == [first_image.id, new_image.id]
    with pytest.raises(Conflict):
        orders.resubmit(store, order["token"], new_image.id)


def test_messages_from_both_sides_land_on_one_timeline(store, order):
    orders.add_message(store, order["number"], "Could you do it in platinum?", actor="staff", actor_name="j")
    updated = orders.add_message(store, order["number"], "Yes please!", actor="customer", actor_name="Ana")
    public = orders.public_view(updated)
    assert [(e["actor"], e["body"]) for e in public["events"][1:]] == [
        ("staff", "Could you do it in platinum?"), ("customer", "Yes please!")]
    assert public["events"][1]["actor_name"] == "Jeweler"   # staff usernames stay private
    assert "cost_total" not in public["quote"]


@pytest.mark.parametrize("name,email,phone,field", [
    ("", "a@b.co", None, "name"), ("Ana", "", None, "email"), ("Ana", "not-an-email", None, "email"),
    ("Ana", "a@b.co", "call me maybe", "phone"), ("A" * 200, "a@b.co", None, "name"),
])
def test_contact_details_are_checked_field_by_field(name, email, phone, field):
    with pytest.raises(Invalid) as info:
        orders.check_contact(name, email, phone, None)
    assert info.value.field == field


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metal=st.sampled_from(["14k_yellow", "18k_white", "platinum", "sterling", "9k_rose"]),
       quality=st.sampled_from([None, "D-F/FL-VVS", "I-J/SI"]), width=st.floats(1.5, 6.0))
def test_the_order_snapshot_equals_the_quote_shown_for_its_revision(store, design_with_image, metal, quality, width):
    design, image = design_with_image
    stones = [{**g.model_dump(), "quality": quality} for g in design.spec.stones]
    changed = designs.update_spec(store, design.id, Spec.model_validate(
        {**design.spec.model_dump(), "metal": metal, "band_width_mm": round(width, 1), "stones": stones}))
    shown = price_books.quote_spec(store, changed.spec).staff()
    order = orders.place_order(store, design.id, image.id, orders.check_contact("Ana", "ana@example.com", None, None),
                               spec_revision=changed.spec_revision, shown_total=shown["total"])
    snapshot = order["current"]["quote"]
    assert {k: v for k, v in snapshot.items() if k != "valid_until"} == {k: v for k, v in shown.items()
                                                                          if k != "valid_until"}
    assert order["current"]["spec_revision"] == changed.spec_revision


@pytest.mark.parametrize("email", ["a@b.co?bcc=x%40evil.com", "ana@exa_mple.com", "a b@c.com", "ana@example",
                                   "ana@example.com\r\nBcc: x@evil.com"])
def test_an_address_a_mail_client_would_misread_is_refused(email):
    with pytest.raises(Invalid) as info:
        orders.check_contact("Ana", email, None, None)
    assert info.value.field == "email"


def test_a_good_address_is_kept_in_its_normal_form():
    assert orders.check_contact("Ana", "Ana.Test+ring@Example.CO.UK", None, None).email == "Ana.Test+ring@example.co.uk"
