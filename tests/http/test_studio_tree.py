"""The version tree, guided steps and the ring-size guide over HTTP: pages and fragments,
the JSON API, and odd input answered with a 4xx naming the field, never a 500."""

import io
import re

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from PIL import Image

HX = {"HX-Request": "true"}
EXAMPLE = "14k rose gold ring with a 1.5 carat oval lab diamond, tiny diamonds on the band, size 6"


def drain(worker):
    while worker.run_once():
        pass


def started(customer, worker) -> dict:
    design = customer.post("/api/v1/designs", json={"description": EXAMPLE}).json()
    drain(worker)
    return customer.get(f"/api/v1/designs/{design['id']}").json()


def test_more_like_this_branches_from_the_chosen_concept_with_the_strength_asked(customer, worker):
    design = started(customer, worker)
    chosen = design["images"][2]["id"]
    customer.post(f"/d/{design['id']}/select", data={"image_id": chosen}, headers=HX)
    page = customer.get(f"/d/{design['id']}")
    assert page.text.count('name="strength"') >= 3 and "More like the chosen concept" in page.text
    fragment = customer.post(f"/d/{design['id']}/rounds", data={"parent_image_id": chosen, "strength": "very"},
                             headers=HX)
    assert fragment.status_code == 200
    drain(worker)
    tree = customer.get(f"/api/v1/designs/{design['id']}/tree").json()["rounds"]
    assert tree[0]["parent_image_id"] == chosen and tree[0]["strength"] == "very"
    assert tree[0]["parent_label"] == "Round 1, concept 3" and len(tree[0]["images"]) == 4
    page = customer.get(f"/d/{design['id']}").text
    # The newest round comes first, the next-round controls right under it, older rounds after.
    assert page.index('id="round-2"') < page.index('id="next-round"') < page.index('id="round-1"')
    assert "round 1, concept 3" in page and "Very different" in page
    bad = customer.post(f"/d/{design['id']}/rounds", data={"parent_image_id": chosen, "strength": "wild"}, headers=HX)
    assert bad.status_code == 422 and "how different" in bad.text.lower()
    api = customer.post(f"/api/v1/designs/{design['id']}/renders", json={"strength": "a lot"})
    assert api.status_code == 422 and api.json()["detail"][0]["field"] == "strength"


def test_undo_and_go_back_move_the_panel_the_price_and_the_chosen_concept_together(customer, worker):
    design = started(customer, worker)
    first = design["images"][0]["id"]
    customer.post(f"/api/v1/designs/{design['id']}/renders", json={"parent_image_id": first,
                                                                    "instruction": "make it platinum"})
    drain(worker)
    platinum = customer.get(f"/api/v1/designs/{design['id']}").json()
    assert platinum["spec"]["metal"] == "platinum"
    undone = customer.post(f"/d/{design['id']}/undo", headers=HX)
    assert undone.status_code == 200 and "Back to round 1, concept 1" in undone.text
    assert 'hx-swap-oob="true"' in undone.text and "14k rose gold" in undone.text.lower()   # the panel follows
    after = customer.get(f"/api/v1/designs/{design['id']}").json()
    assert after["spec"]["metal"] == "14k_rose" and after["chosen_image_id"] == first
    assert after["quote"]["total"] != platinum["quote"]["total"]
    nothing = customer.post(f"/d/{design['id']}/undo", headers=HX)
    assert nothing.status_code == 409 and "nothing earlier" in nothing.text
    assert customer.post(f"/api/v1/designs/{design['id']}/undo").status_code == 409
    newest = [i for i in after["images"] if i["round"] == 2][1]["id"]
    back = customer.post(f"/api/v1/designs/{design['id']}/go-back", json={"image_id": newest})
    assert back.status_code == 200 and back.json()["spec"]["metal"] == "platinum"
    assert back.json()["chosen_image_id"] == newest
    wrong = customer.post(f"/api/v1/designs/{design['id']}/go-back", json={"image_id": "x" * 22})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["field"] == "image_id"
    page = customer.post(f"/d/{design['id']}/back", data={"image_id": "x"}, headers=HX)
    assert page.status_code == 422 and "No concept with that id" in page.text


def test_two_concepts_side_by_side(customer, worker):
    design = started(customer, worker)
    customer.post(f"/api/v1/designs/{design['id']}/renders", json={"parent_image_id": design["images"][0]["id"],
                                                                    "instruction": "make it platinum"})
    drain(worker)
    images = customer.get(f"/api/v1/designs/{design['id']}").json()["images"]
    a, b = images[0]["id"], images[-1]["id"]
    page = customer.get(f"/d/{design['id']}/compare", params={"a": a, "b": b})
    assert page.status_code == 200 and "They differ in the metal." in page.text
    assert page.text.count('class="card compare-side"') == 2 and "platinum" in page.text.lower()
    data = customer.get(f"/api/v1/designs/{design['id']}/compare", params={"a": a, "b": b}).json()
    assert data["differences"] == ["the metal"] and data["sides"][0]["quote"]["total"] != data["sides"][1]["quote"]["total"]
    same = customer.get(f"/d/{design['id']}/compare", params={"a": a, "b": a})
    assert same.status_code == 422 and "two different concepts" in same.text
    missing = customer.get(f"/api/v1/designs/{design['id']}/compare", params={"a": a})
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "b"
    listed = customer.get(f"/d/{design['id']}").text
    assert f"/d/{design['id']}/compare?a=" in listed


def _png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_photo_round_shows_the_photo_beside_its_results_and_only_under_its_design(customer, worker):
    design = started(customer, worker)
    response = customer.post(f"/d/{design['id']}/photo", files={"photo": ("ring.png", _png((30, 90, 200)), "image/png")},
                             data={"strength": "little"}, headers=HX)
    assert response.status_code == 200
    drain(worker)
    page = customer.get(f"/d/{design['id']}").text
    photo_url = re.search(r'src="(/d/[^"]+/photos/[^"]+\.png)"', page).group(1)
    assert "from your photo" in page and "Close to my photo" in page
    assert page.index(photo_url) < page.index('id="next-round"')            # beside the newest round
    served = customer.get(photo_url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    other = started(customer, worker)
    assert customer.get(photo_url.replace(design["id"], other["id"])).status_code == 404
    tree = customer.get(f"/api/v1/designs/{design['id']}/tree").json()["rounds"]
    assert tree[0]["reference_id"] and tree[0]["strength"] == "little"


def test_guided_steps_end_in_a_design_with_the_chosen_spec_and_its_first_round(customer, worker):
    answers = {"piece": "pendant", "metal": "18k_white", "stone": "sapphire", "accents": "halo", "shape": "oval",
               "carat": "1", "size": "500"}
    page = customer.get("/guided", params={**answers, "step": "review"})
    assert page.status_code == 200 and 'aria-current="step"' in page.text and 'id="quote-total"' in page.text
    assert "18k white gold" in page.text.lower() and "halo" in page.text.lower()
    created = customer.post("/guided", data=answers, follow_redirects=False)
    assert created.status_code == 303
    design_id = created.headers["location"].rsplit("/", 1)[1]
    drain(worker)
    design = customer.get(f"/api/v1/designs/{design_id}").json()
    assert design["spec"]["piece_type"] == "pendant" and design["spec"]["chain_length_mm"] == 500
    assert design["spec"]["stones"][0]["type"] == "sapphire" and design["spec"]["stones"][1]["setting"] == "halo"
    assert len(design["images"]) == 4 and design["description"].startswith("Chosen step by step")
    assert all(f["source"] in ("changed", "default") for f in design["understood"])
    # The API takes a chosen spec too.
    api = customer.post("/api/v1/designs", json={"spec": design["spec"]})
    assert api.status_code == 201 and api.json()["spec"] == design["spec"]
    chain = next(f for f in api.json()["understood"] if f["field"] == "chain_length_mm")
    assert chain["source"] == "changed"                                   # the client sent the length
    unsized = customer.post("/api/v1/designs", json={"spec": {"piece_type": "ring", "metal": "platinum"}}).json()
    size = next(f for f in unsized["understood"] if f["field"] == "ring_size")
    assert size["source"] == "default" and unsized["description"].startswith("Chosen piece:")
    assert customer.post("/api/v1/designs", json={}).status_code == 422
    # An answer not offered is named at its step, never a 500.
    wrong = customer.get("/guided", params={"piece": "ring", "metal": "unobtainium", "step": "stones"})
    assert wrong.status_code == 422 and 'id="metal-error"' in wrong.text
    unfinished = customer.post("/guided", data={"piece": "ring"})
    assert unfinished.status_code == 422 and "finish this step" in unfinished.text


def test_the_ring_size_guide_measures_a_ring_and_puts_the_size_on_the_design(customer, worker):
    page = customer.get("/ring-size")
    assert page.status_code == 200 and 'width="50mm"' in page.text and "exactly 50 mm" in page.text
    assert page.text.count("<text") >= 12                                   # the strip's size marks
    measured = customer.get("/ring-size", params={"diameter": "17,3"})
    assert "That is <strong>US 7</strong>" in measured.text and "UK/Australia N½" in measured.text and "EU 54.5" in measured.text
    around = customer.get("/ring-size", params={"circumference": "54.4"})
    assert "US 7" in around.text
    for query, field in (({"diameter": "seventeen"}, "diameter"), ({"circumference": "900"}, "circumference"),
                         ({"diameter": "nan"}, "diameter")):
        bad = customer.get("/ring-size", params=query)
        assert bad.status_code == 422 and f'id="{field}-error"' in bad.text
    design = started(customer, worker)
    offer = customer.get("/ring-size", params={"diameter": "17.3", "design": design["id"]})
    assert f'action="/d/{design["id"]}/ring-size"' in offer.text
    used = customer.post(f"/d/{design['id']}/ring-size", data={"us_size": "7"}, follow_redirects=False)
    assert used.status_code == 303
    assert customer.get(f"/api/v1/designs/{design['id']}").json()["spec"]["ring_size"] == 7.0
    assert customer.post(f"/d/{design['id']}/ring-size", data={"us_size": "40"}).status_code == 422
    assert f"/ring-size?design={design['id']}" in customer.get(f"/d/{design['id']}").text


FUZZ = hypothesis_settings(max_examples=60, deadline=None, database=None, derandomize=True,
                           suppress_health_check=list(HealthCheck))
ODD = st.one_of(st.sampled_from(["", "ring", "unsure", "1.5", "-1", "1e309", "nan", "0", "review", "cut", "halo",
                                 "pearl", "x" * 300, "%00", "6.5"]), st.text(max_size=30))


def test_the_query_pages_answer_odd_input_without_a_server_error(customer, worker):
    design = started(customer, worker)
    names = ["piece", "metal", "stone", "shape", "carat", "accents", "size", "step", "diameter", "circumference",
             "design", "a", "b"]

    @FUZZ
    @given(query=st.dictionaries(st.sampled_from(names), ODD, max_size=8), path=st.sampled_from(
        ["/guided", "/ring-size", f"/d/{design['id']}/compare", f"/api/v1/designs/{design['id']}/compare"]))
    def run(query, path):
        response = customer.get(path, params=query)
        assert response.status_code < 500, (path, query, response.text[:300])

    run()


def test_the_ring_size_guide_keeps_the_guided_choices_and_brings_the_size_back(customer):
    chosen = {"piece": "ring", "metal": "platinum", "stone": "none"}
    step = customer.get("/guided", params={**chosen, "step": "size"})
    link = re.search(r'href="(/ring-size\?guided=[^"]+)" id="guided-size-help"', step.text).group(1)
    guide = customer.get(link.replace("&amp;", "&"))
    assert guide.status_code == 200 and 'id="back-to-guided"' in guide.text
    carried = re.search(r'name="guided" value="([^"]*)"', guide.text).group(1).replace("&amp;", "&")
    query = {"guided": carried}                                            # the measure form carries the choices
    measured = customer.get("/ring-size", params={**query, "diameter": "17.3"})
    use = re.search(r'id="use-size-guided" href="([^"]+)"', measured.text).group(1).replace("&amp;", "&")
    review = customer.get(use)
    assert review.status_code == 200 and 'id="review-materials"' in review.text and "US 7" in review.text
    quarter = customer.get("/ring-size", params={**query, "diameter": "17.5"})     # US 7.25: not a guided choice
    assert 'id="use-size-guided"' not in quarter.text and "nearest one" in quarter.text
    odd = customer.get("/ring-size", params={"guided": "&".join(f"k{i}=v" for i in range(40))})
    assert odd.status_code == 200 and 'id="back-to-guided"' not in odd.text
