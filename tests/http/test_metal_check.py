"""The metal colour check through the whole loop: the worker checks each concept as it
stores it, a concept whose metal looks off is marked on the customer's design page and
in the jeweler's order, and it is not the concept chosen by default."""

import re

from appliance.jewelry.metal_colour import AGREES, DISAGREES
from appliance.studio import designs
from pipelines.base import GenerationResult
from pipelines.sketch import SketchGenerator, render
from tests.conftest import STAFF_PASSWORD

PLATINUM_RING = "platinum ring with a 1 carat round diamond"


class FirstTwoInYellowGold(SketchGenerator):
    """The sketch renderer, except that its first two concepts are drawn in yellow gold
    whatever the spec asks for: a generator that got the metal wrong."""

    def generate(self, request, on_progress, is_cancelled, on_image=None):
        size = request.width or self.default_size
        images, labels = [], []
        for index, seed in enumerate(request.seeds[: request.count]):
            drawn = request.spec.model_copy(update={"metal": "18k_yellow"}) if index < 2 else request.spec
            image, label = render(drawn, index, seed, size)
            images.append(image)
            labels.append(label)
            on_progress((index + 1) / request.count, None)
        return GenerationResult(images=images, seeds=list(request.seeds[: request.count]), labels=labels)


def a_round(customer, worker, description=PLATINUM_RING) -> dict:
    design = customer.post("/api/v1/designs", json={"description": description}).json()
    customer.post(f"/api/v1/designs/{design['id']}/renders", json={"count": 4})
    assert worker.run_once()
    return customer.get(f"/api/v1/designs/{design['id']}").json()


def test_the_worker_records_the_check_of_every_concept_it_stores(customer, worker):
    design = a_round(customer, worker)
    checks = [image["metal_check"] for image in design["images"]]
    assert [c["verdict"] for c in checks] == [AGREES] * 4
    assert all("white metal" in c["reason"] for c in checks)
    assert design["chosen_image_id"] == design["images"][0]["id"]


def test_a_concept_in_the_wrong_metal_is_marked_and_not_chosen_by_default(customer, worker):
    worker.generator = FirstTwoInYellowGold()
    worker.generator.load()
    design = a_round(customer, worker)
    images = design["images"]
    assert [i["metal_check"]["verdict"] for i in images] == [DISAGREES, DISAGREES, AGREES, AGREES]
    assert "looks like yellow gold, not white metal" in images[0]["metal_check"]["reason"]
    # Nothing picked yet: the first concept whose metal looks right is the chosen one.
    assert design["chosen_image_id"] == images[2]["id"]

    page = customer.get(f"/d/{design['id']}").text
    for image in images:
        button = re.search(rf'<button[^>]*id="concept-{image["id"]}".*?</button>', page, re.DOTALL).group(0)
        flagged = image["metal_check"]["verdict"] == DISAGREES
        assert ("Metal colour looks off" in button) == flagged
        assert ("its metal colour looks unlike your metal" in button) == flagged
        assert ('aria-pressed="true"' in button) == (image["id"] == images[2]["id"])


def test_when_every_concept_looks_off_the_first_is_still_chosen(store, customer, worker):
    class AllInYellowGold(FirstTwoInYellowGold):
        def generate(self, request, on_progress, is_cancelled, on_image=None):
            request.spec = request.spec.model_copy(update={"metal": "18k_yellow"})
            return SketchGenerator.generate(self, request, on_progress, is_cancelled)

    worker.generator = AllInYellowGold()
    worker.generator.load()
    design = a_round(customer, worker)
    assert {i["metal_check"]["verdict"] for i in design["images"]} == {DISAGREES}
    assert design["chosen_image_id"] == design["images"][0]["id"]
    assert designs.chosen_image_id(designs.get_design(store, design["id"]),
                                   designs.images(store, design["id"])) == design["images"][0]["id"]


def test_the_customer_may_still_order_a_flagged_concept_and_the_jeweler_sees_the_flag(customer, staff, worker,
                                                                                         jeweler):
    worker.generator = FirstTwoInYellowGold()
    worker.generator.load()
    design = a_round(customer, worker)
    flagged = design["images"][0]["id"]
    placed = customer.post(f"/api/v1/designs/{design['id']}/order",
                           json={"image_id": flagged, "name": "Ana", "email": "ana@example.com",
                                 "spec_revision": design["spec_revision"]})
    assert placed.status_code == 201, placed.text
    number = placed.json()["number"]

    staff.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD})
    view = staff.get(f"/api/v1/orders/{number}").json()
    assert view["image"]["id"] == flagged
    assert view["metal_check"]["verdict"] == DISAGREES
    assert "yellow gold" in view["metal_check"]["reason"]
    assert any("metal colour looks off" in d for d in view["disagreements"])
    page = staff.get(f"/orders/{number}").text
    disagreements = re.search(r'<ul class="flags" id="disagreements">.*?</ul>', page, re.DOTALL).group(0)
    assert "metal colour looks off" in disagreements and "not white metal" in disagreements


def test_a_round_whose_metal_looks_right_leaves_the_jeweler_nothing_to_flag(customer, staff, worker, jeweler):
    design = a_round(customer, worker)
    placed = customer.post(f"/api/v1/designs/{design['id']}/order",
                           json={"image_id": design["chosen_image_id"], "name": "Ana", "email": "ana@example.com",
                                 "spec_revision": design["spec_revision"]}).json()
    staff.post("/api/v1/session", json={"username": jeweler, "password": STAFF_PASSWORD})
    view = staff.get(f"/api/v1/orders/{placed['number']}").json()
    assert view["metal_check"]["verdict"] == AGREES and view["disagreements"] == []
    assert "Metal colour looks off" not in staff.get(f"/orders/{placed['number']}").text
