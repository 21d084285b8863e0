"""The version tree: rounds as nodes, going back, undo, compare, and how different a
"more like this" round is asked to be."""

import pytest

from appliance.errors import Conflict, Invalid
from appliance.studio import designs, guided, jobs, rounds, uploads, versions


def drawn(worker, store, design_id):
    while worker.run_once():
        pass
    return designs.images(store, design_id)


@pytest.fixture
def first(store, worker):
    started = rounds.start_design(store, "14k rose gold ring, 1.5 carat oval lab diamond, size 6", None, max_waiting=5)
    return started.design, drawn(worker, store, started.design.id)


def test_every_round_is_a_node_that_knows_its_parent_its_words_and_its_strength(store, worker, first):
    design, images = first
    parent = images[2]
    made = rounds.new_round(store, design.id, parent_image_id=parent.id, instruction="make it platinum",
                            strength="little", max_waiting=5)
    assert made.changes and made.job.strength == "little"
    drawn(worker, store, design.id)
    tree = versions.tree(store, design.id)
    assert [node.number for node in tree] == [2, 1]
    newest, oldest = tree
    assert newest.parent.id == parent.id and newest.instruction == "make it platinum" and newest.strength == "little"
    assert newest.spec_revision == oldest.spec_revision + 1 and len(newest.seeds) == 4
    assert oldest.parent is None and oldest.reference_id is None
    assert versions.concept_number(parent, designs.images(store, design.id)) == 3


def test_going_back_restores_the_concept_s_materials_but_keeps_the_customer_s_ring_size(store, worker, first):
    design, images = first
    rounds.new_round(store, design.id, parent_image_id=images[0].id, instruction="make it platinum", max_waiting=5)
    drawn(worker, store, design.id)
    now = designs.get_design(store, design.id)
    designs.revise_spec(store, design.id, now.spec.model_copy(update={"ring_size": 7.5}))
    back = versions.go_back(store, design.id, images[1].id)
    assert back.spec.metal == "14k_rose" and back.spec.ring_size == 7.5
    assert back.selected_image_id == images[1].id and back.spec_revision == now.spec_revision + 2
    assert designs.drawn_with_current_spec(back, images[1]) is False      # drawn at size 6: the panel says so
    with pytest.raises(Invalid) as info:
        versions.go_back(store, design.id, "no-such-image")
    assert info.value.field == "image_id"
    other = rounds.start_design(store, "platinum pendant with a sapphire", None, max_waiting=5).design
    other_images = drawn(worker, store, other.id)
    with pytest.raises(Invalid, match="another design"):
        versions.go_back(store, design.id, other_images[0].id)


def test_undo_takes_back_panel_changes_then_walks_up_the_tree_and_stops_at_the_start(store, worker, first):
    design, images = first
    rounds.new_round(store, design.id, parent_image_id=images[3].id, instruction="make it platinum", max_waiting=5)
    branch = drawn(worker, store, design.id)
    newest = [image for image in branch if image.round == 2]
    current = designs.get_design(store, design.id)
    designs.revise_spec(store, design.id, current.spec.model_copy(update={"band_width_mm": 3.5}))

    undone = versions.undo(store, design.id)            # 1: the band width change
    assert undone.design.spec.band_width_mm == current.spec.band_width_mm and "materials" in undone.what
    assert undone.design.selected_image_id == newest[0].id
    undone = versions.undo(store, design.id)            # 2: back to the concept round 2 came from
    assert undone.design.selected_image_id == images[3].id and undone.design.spec.metal == "14k_rose"
    assert undone.what == "Back to round 1, concept 4."
    with pytest.raises(Conflict, match="began"):        # 3: round 1 is where it began
        versions.undo(store, design.id)
    assert len(designs.images(store, design.id)) == 8    # nothing was deleted


def test_compare_shows_two_concepts_with_what_differs_and_the_price_going_back_would_give(store, worker, first):
    design, images = first
    rounds.new_round(store, design.id, parent_image_id=images[0].id, instruction="make it platinum", max_waiting=5)
    platinum = [i for i in drawn(worker, store, design.id) if i.round == 2][0]
    a, b, differences = versions.compare(store, design.id, images[0].id, platinum.id)
    assert differences == ["the metal"] and (a.spec.metal, b.spec.metal) == ("14k_rose", "platinum")
    assert a.label == "Round 1, concept 1" and b.label == "Round 2, concept 1"
    with pytest.raises(Invalid) as info:
        versions.compare(store, design.id, images[0].id, images[0].id)
    assert info.value.field == "b"
    with pytest.raises(Invalid) as info:
        versions.compare(store, design.id, "nope", images[0].id)
    assert info.value.field == "a"


def test_strength_is_only_for_rounds_from_a_concept_or_a_photo(store, first, settings):
    design, images = first
    for kwargs in ({}, {"parent_image_id": images[0].id, "mask_id": None, "strength": "huge"}):
        with pytest.raises(Invalid) as info:
            jobs.enqueue(store, design.id, strength=kwargs.pop("strength", "more"), **kwargs)
        assert info.value.field == "strength"
    assert jobs.strength_fraction("little") < jobs.strength_fraction("more") < jobs.strength_fraction("very")
    assert jobs.strength_fraction(None) is None


def test_a_photo_round_is_a_node_that_shows_its_photo(store, worker, first, settings):
    import io

    from PIL import Image
    design, _ = first
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), (30, 80, 200)).save(buffer, format="PNG")
    photo = uploads.accept(store, settings.uploads_dir, design.id, "reference", buffer.getvalue())
    rounds.new_round(store, design.id, reference_id=photo.id, strength="very", max_waiting=5)
    drawn(worker, store, design.id)
    newest = versions.tree(store, design.id)[0]
    assert newest.reference_id == photo.id and newest.parent is None and newest.strength == "very"
    assert all("from your photo" in image.label for image in newest.images)


def test_guided_answers_make_the_same_kind_of_spec_the_words_do(store):
    answers = guided.read_answers({"piece": "ring", "metal": "14k_rose", "stone": "lab_diamond", "shape": "oval",
                                   "carat": "1.5", "accents": "band", "size": "6.5"})
    assert not answers.errors and guided.step_to_show(answers, "review") == "review"
    spec = guided.spec_of(answers)
    read = designs.create_design(store, "14k rose gold ring, 1.5 carat oval lab diamond, tiny diamonds on the band, "
                                        "size 6 1/2").spec
    assert (spec.piece_type, spec.metal, spec.ring_size) == (read.piece_type, read.metal, read.ring_size)
    assert spec.center.type == read.center.type == "lab_diamond" and spec.center.shape == "oval"
    assert abs(spec.center.carat_each - 1.5) < 0.02
    assert [g.setting for g in spec.stones if g.role == "accent"] == ["pave"]
    assert {f["source"] for f in guided.facts_of(spec)} >= {"changed"}
    unsure = guided.facts_of(guided.spec_of(guided.read_answers({**answers.as_form(), "size": "unsure"})), False)
    assert next(f for f in unsure if f["field"] == "ring_size")["source"] == "default"


@pytest.mark.parametrize("form,field", [
    ({"piece": "tiara"}, "piece"), ({"piece": "ring", "metal": "gold"}, "metal"),
    ({"piece": "ring", "metal": "platinum", "stone": "kryptonite"}, "stone"),
    ({"piece": "ring", "metal": "platinum", "stone": "pearl", "accents": "none", "shape": "oval"}, "shape"),
    ({"piece": "ring", "metal": "platinum", "stone": "diamond", "accents": "none", "shape": "round", "carat": "40"},
     "carat"),
    ({"piece": "earrings", "metal": "platinum", "stone": "diamond", "accents": "band"}, "accents"),
    ({"piece": "ring", "metal": "platinum", "stone": "none", "size": "99"}, "size"),
])
def test_a_wrong_guided_answer_is_dropped_and_named_and_its_step_shown_again(form, field):
    answers = guided.read_answers(form)
    assert field in answers.errors and getattr(answers, {"piece": "piece"}.get(field, field)) == ""
    screen = guided.step_to_show(answers, "review")
    assert field in guided.SCREEN_FIELDS[screen]


def test_undo_in_a_photo_round_says_why_it_cannot_step_back(store, worker, first, settings):
    import io

    from PIL import Image
    design, _ = first
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 60, 60)).save(buffer, format="PNG")
    photo = uploads.accept(store, settings.uploads_dir, design.id, "reference", buffer.getvalue())
    rounds.new_round(store, design.id, reference_id=photo.id, max_waiting=5)
    drawn(worker, store, design.id)
    with pytest.raises(Conflict, match="started from your photo"):
        versions.undo(store, design.id)


def test_a_size_change_alone_leaves_nothing_for_going_back_to_change(store, first):
    design, images = first
    designs.revise_spec(store, design.id, design.spec.model_copy(update={"ring_size": 8.0}))
    resized = designs.get_design(store, design.id)
    chosen = next(i for i in images if i.id == designs.chosen_image_id(resized, images))
    assert not designs.drawn_with_current_spec(resized, chosen)          # the picture was drawn at size 6 ...
    assert not versions.changes_going_back(resized, chosen)              # ... but going back keeps size 8
    again = versions.go_back(store, design.id, chosen.id)
    assert again.spec_revision == resized.spec_revision and again.spec.ring_size == 8.0


def test_an_unsure_size_is_never_written_as_a_length(store):
    answers = guided.read_answers({"piece": "pendant", "metal": "platinum", "stone": "none", "size": "unsure"})
    spec = guided.spec_of(answers)
    words = guided.words_of(spec, answers)
    assert "450" not in words and "chain length to be confirmed" in words
    chain = next(f for f in guided.facts_of(spec, False) if f["field"] == "chain_length_mm")
    assert chain["source"] == "default" and "confirm" in chain["why"]
