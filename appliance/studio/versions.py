"""The design's version tree: every round is a node (what it started from, the words
that asked for it, how different it was asked to be, the spec revision it drew), and
every concept is a version the customer can go back to, branch from or compare.

Nothing is ever deleted here: going back or undoing chooses an earlier concept and makes
its materials the design's again (as a new spec revision, so the panel, the price, the
chosen picture and the order all agree); the later rounds stay in the tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.errors import Conflict, Invalid, NotFound
from appliance.jewelry.specs import Spec
from appliance.storage import store as q
from appliance.storage.store import Store, now
from appliance.studio import designs

# What the customer measured or decided about themselves, not about the piece's look: an
# earlier version's picture never takes these back.
_PERSONAL = ("ring_size", "size_system", "chain_length_mm", "bracelet_length_mm")


@dataclass
class Round:
    """One node of the tree: a round of concepts."""
    number: int
    images: list[designs.Image]
    instruction: str | None = None
    parent: designs.Image | None = None          # the concept it started from (a branch)
    reference_id: str | None = None              # or the customer's photo
    strength: str | None = None                  # "more like this": little | more | very
    region_edit: bool = False                    # a painted region redrawn
    spec_revision: int = 1

    @property
    def seeds(self) -> list[int]:
        return [image.seed for image in self.images]


def concept_numbers(images: list[designs.Image]) -> dict[str, int]:
    """Each image's 1-based place in its round, as the page shows it."""
    numbers, seen = {}, {}
    for image in images:
        seen[image.round] = seen.get(image.round, 0) + 1
        numbers[image.id] = seen[image.round]
    return numbers


def concept_number(image: designs.Image, images: list[designs.Image]) -> int:
    """1-based place of the image in its round."""
    return concept_numbers(images)[image.id]


def tree(store: Store, design_id: str, images: list[designs.Image] | None = None) -> list[Round]:
    """The design's rounds, newest first, each knowing its parent concept or photo."""
    images = designs.images(store, design_id) if images is None else images
    by_id = {image.id: image for image in images}
    jobs = {row["id"]: row for row in store.query(q.ROUNDS_FOR_DESIGN, {"design_id": design_id})}
    rounds: dict[int, Round] = {}
    for image in images:
        node = rounds.get(image.round)
        if node is None:
            job = jobs.get(image.job_id or "", {})
            node = rounds[image.round] = Round(
                number=image.round, images=[], instruction=image.instruction,
                parent=by_id.get(image.parent_id or ""), reference_id=job.get("reference_id"),
                strength=job.get("strength"), region_edit=bool(job.get("mask_id")),
                spec_revision=image.spec_revision)
        node.images.append(image)
    return sorted(rounds.values(), key=lambda r: r.number, reverse=True)


def _image_of(store: Store, design_id: str, image_id: str, field: str = "image_id") -> designs.Image:
    try:
        image = designs.get_image(store, image_id)
    except NotFound:
        raise Invalid(field, "No concept with that id.") from None
    if image.design_id != design_id:
        raise Invalid(field, "That concept belongs to another design.")
    return image


def spec_of_version(current: Spec, image: designs.Image) -> Spec:
    """The spec the concept was drawn from, keeping the customer's own measurements
    (ring size, lengths) when the piece is the same kind, and their budget."""
    drawn = Spec.model_validate_json(image.spec_json)
    keep = {"budget": current.budget}
    if drawn.piece_type == current.piece_type:
        keep.update({name: getattr(current, name) for name in _PERSONAL})
    return Spec.model_validate({**drawn.model_dump(), **keep})


def go_back(store: Store, design_id: str, image_id: str) -> designs.Design:
    """Choose an earlier concept and make its materials the design's again: read and
    written in one transaction, so a panel edit from another tab is never overwritten
    unseen, and a new spec revision only when the materials really change."""
    image = _image_of(store, design_id, image_id)
    with store.write() as db:
        row = next(db.query(q.GET_DESIGN, {"id": design_id}), None)
        if row is None:
            raise NotFound("No design with that id.")
        current = Spec.model_validate_json(row["spec_json"])
        spec = spec_of_version(current, image)
        stamp = now()
        if spec != current:
            db.execute(q.UPDATE_DESIGN_SPEC, {"id": design_id, "spec_json": spec.model_dump_json(),
                                              "now": stamp}).fetchall()
        db.execute(q.SELECT_DESIGN_IMAGE, {"id": design_id, "image_id": image.id, "now": stamp})
    return designs.get_design(store, design_id)


def changes_going_back(design: designs.Design, image: designs.Image) -> bool:
    """Whether going back to the image would change the design's materials."""
    return spec_of_version(design.spec, image) != design.spec


@dataclass
class Undone:
    design: designs.Design
    what: str                 # what was undone, in the customer's words


def undo(store: Store, design_id: str) -> Undone:
    """One step back: first the changes made to the materials since the chosen concept
    was drawn; then from the chosen concept to the concept it was made from. Conflict
    when the chosen concept is where the design began."""
    design = designs.get_design(store, design_id)
    images = designs.images(store, design_id)
    chosen_id = designs.chosen_image_id(design, images)
    if chosen_id is None:
        raise Conflict("There is nothing to undo yet: no concept has been drawn.")
    chosen = next(image for image in images if image.id == chosen_id)
    if spec_of_version(design.spec, chosen) != design.spec:
        return Undone(go_back(store, design_id, chosen.id), "Your last changes to the materials were undone.")
    parent = next((image for image in images if image.id == chosen.parent_id), None)
    if parent is None and chosen.round > 1:
        raise Conflict("This round started from your photo, so no concept comes before it; choose any concept "
                       "of an earlier round to go back to it.")
    if parent is None:
        raise Conflict("This is where your design began; there is nothing earlier to go back to.")
    return Undone(go_back(store, design_id, parent.id),
                  f"Back to round {parent.round}, concept {concept_number(parent, images)}.")


@dataclass
class Side:
    image: designs.Image
    spec: Spec
    label: str                # "Round 2, concept 3"


def compare(store: Store, design_id: str, first_id: str, second_id: str) -> tuple[Side, Side, list[str]]:
    """Two concepts side by side, with what differs between the materials they show. Each
    side's spec is what going back to it would make the design's (the customer's ring
    size kept), so the price shown beside it is the price they would get."""
    if first_id == second_id:
        raise Invalid("b", "Choose two different concepts to compare.")
    design = designs.get_design(store, design_id)
    images = designs.images(store, design_id)
    sides = []
    for field, image_id in (("a", first_id), ("b", second_id)):
        image = _image_of(store, design_id, image_id, field)
        sides.append(Side(image, spec_of_version(design.spec, image),
                          f"Round {image.round}, concept {concept_number(image, images)}"))
    return sides[0], sides[1], designs.changed_since(sides[0].spec, sides[1].spec)
