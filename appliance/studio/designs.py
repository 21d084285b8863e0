"""Designs and their version tree of images.

A design is created from the customer's words (parsed into a spec) and is addressed by an
unguessable id, which is the customer's capability to see and change it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from dataclasses import dataclass, field

from pydantic import ValidationError

from appliance.errors import Invalid, NotFound
from appliance.jewelry.specs import Spec, field_errors
from appliance.reader.descriptions import parse_description
from appliance.reader.facts import Fact, current_facts
from appliance.storage import store as q
from appliance.storage.store import Store, now

MAX_DESCRIPTION = 2000

# Words that have no place in a jewelry design request; the studio declines politely.
_REFUSED = re.compile(r"\b(nude|naked|nsfw|porn|gore|blood|swastika|kill|weapon|gun)\b", re.I)


@dataclass
class Design:
    id: str
    description: str
    piece_type: str | None
    spec: Spec
    notes: list[str]
    unplaced: list[str]
    selected_image_id: str | None
    created_at: str
    spec_revision: int = 1
    facts: list[dict] = field(default_factory=list)     # what the reader understood, as read
    details: list[str] = field(default_factory=list)    # design words the spec cannot hold

    def understood(self) -> list[Fact]:
        """What the reader understood, brought up to the current spec (a fact the
        customer changed since is shown as their choice)."""
        return current_facts(self.spec, self.facts)


@dataclass
class Image:
    id: str
    design_id: str
    job_id: str | None
    parent_id: str | None
    instruction: str | None
    path: str
    seed: int
    generator: str
    label: str | None
    round: int
    width: int
    height: int
    spec_json: str
    spec_revision: int
    # Whether the drawn metal's colour looks like the spec's metal (metal_colour.check).
    metal_check: str | None = None
    metal_check_reason: str | None = None

    @property
    def url(self) -> str:
        return f"/images/{self.id}.png"

    @property
    def metal_looks_off(self) -> bool:
        """Whether the metal colour check found the drawn metal unlike the spec's."""
        return self.metal_check == "disagrees"


def new_id() -> str:
    """An unguessable identifier (128 bits) used as a capability in URLs."""
    return secrets.token_urlsafe(16)


def shown(capability: str) -> str:
    """A capability as logs show it: its first six characters, enough to follow one design
    or job through the log, far too few to use it."""
    return f"{capability[:6]}…"


def check_description(description: str | None) -> str:
    """The description trimmed, or Invalid naming the problem."""
    text = (description or "").strip()
    if not text:
        raise Invalid("description", "Tell us what you would like: for example "
                      "“14k rose gold ring with a 1.5 carat oval lab diamond, size 6”.")
    if len(text) > MAX_DESCRIPTION:
        raise Invalid("description", f"Please keep the description under {MAX_DESCRIPTION} characters "
                      f"(it has {len(text)}).")
    if _REFUSED.search(text):
        raise Invalid("description", "We can only design jewelry here. Please describe the piece you have in mind.")
    return text


def create_design(store: Store, description: str, piece_type: str | None = None) -> Design:
    """Parse the customer's words into a spec and store a new design."""
    text = check_description(description)
    try:
        parsed = parse_description(text, piece_type)
    except ValidationError as exc:
        err = field_errors(exc)[0]
        raise Invalid(err["field"], err["message"]) from None
    sources = {f.field: f.source for f in parsed.facts}
    nothing_placed = not parsed.spec.stones and not parsed.details and \
        sources.get("metal") == "default" and sources.get("piece_type") == "default"
    if nothing_placed and not piece_type:
        raise Invalid("description", "We could not find a piece of jewelry in that. Name the piece "
                      "(ring, pendant, earrings, bracelet or necklace) and the metal or stones you like.")
    design_id = new_id()
    with store.write() as db:
        db.execute(q.INSERT_DESIGN, {
            "id": design_id, "description": text, "piece_type": piece_type,
            "spec_json": parsed.spec.model_dump_json(), "notes_json": json.dumps(parsed.notes),
            "unplaced_json": json.dumps(parsed.unplaced), "now": now(),
            "facts_json": json.dumps([f.as_dict() for f in parsed.facts]), "details_json": json.dumps(parsed.details),
        })
    return get_design(store, design_id)


def create_design_from_spec(store: Store, description: str, spec: Spec, facts: list[dict]) -> Design:
    """Store a new design whose spec the customer chose (guided steps, or a client that
    sends a spec): nothing is read from the words, so nothing is left unplaced."""
    text = check_description(description)
    design_id = new_id()
    with store.write() as db:
        db.execute(q.INSERT_DESIGN, {
            "id": design_id, "description": text, "piece_type": spec.piece_type,
            "spec_json": spec.model_dump_json(), "notes_json": "[]", "unplaced_json": "[]", "now": now(),
            "facts_json": json.dumps(facts), "details_json": "[]",
        })
    return get_design(store, design_id)


def get_design(store: Store, design_id: str) -> Design:
    """The design with this id, or NotFound."""
    row = store.query_one(q.GET_DESIGN, {"id": design_id})
    if row is None:
        raise NotFound("No design with that id.")
    return _design(row)


def _design(row: dict) -> Design:
    return Design(
        id=row["id"], description=row["description"], piece_type=row["piece_type"],
        spec=Spec.model_validate_json(row["spec_json"]), notes=json.loads(row["notes_json"]),
        unplaced=json.loads(row["unplaced_json"]), selected_image_id=row["selected_image_id"],
        created_at=row["created_at"], facts=json.loads(row["facts_json"]), details=json.loads(row["details_json"]),
        spec_revision=row["spec_revision"],
    )


def revise_spec(store: Store, design_id: str, spec: Spec) -> int:
    """Store the customer's edited spec as a new revision (an unchanged spec makes none);
    later renders and quotes use it. Returns the design's spec revision. Reads only the
    spec, not the whole design: this is the live price's every update."""
    row = store.query_one(q.GET_DESIGN_SPEC, {"id": design_id})
    if row is None:
        raise NotFound("No design with that id.")
    text = spec.model_dump_json()
    if text == row["spec_json"] or Spec.model_validate_json(row["spec_json"]) == spec:
        return row["spec_revision"]
    with store.write() as db:
        return db.execute(q.UPDATE_DESIGN_SPEC, {"id": design_id, "spec_json": text, "now": now()}).fetchall()[0][0]


def update_spec(store: Store, design_id: str, spec: Spec) -> Design:
    """`revise_spec`, answering the whole design."""
    revision = revise_spec(store, design_id, spec)
    return dataclasses.replace(get_design(store, design_id), spec=spec, spec_revision=revision)


def select_image(store: Store, design_id: str, image_id: str) -> Design:
    """Mark the image the customer picked; it must belong to the design."""
    image = get_image(store, image_id)
    if image.design_id != design_id:
        raise Invalid("image_id", "That image belongs to another design.")
    with store.write() as db:
        db.execute(q.SELECT_DESIGN_IMAGE, {"id": design_id, "image_id": image_id, "now": now()})
    return get_design(store, design_id)


def _image(row: dict) -> Image:
    return Image(**{k: row[k] for k in Image.__dataclass_fields__})


def images(store: Store, design_id: str) -> list[Image]:
    """Every image of the design, round by round."""
    return [_image(r) for r in store.query(q.IMAGES_FOR_DESIGN, {"design_id": design_id})]


def get_image(store: Store, image_id: str) -> Image:
    """The image with this id, or NotFound."""
    row = store.query_one(q.GET_IMAGE, {"id": image_id})
    if row is None:
        raise NotFound("No image with that id.")
    return _image(row)


def chosen_image_id(design: Design, design_images: list[Image]) -> str | None:
    """The image the customer picked since the last round was asked for, or else the
    first concept of the newest round whose metal colour does not look off (the first
    concept when all of them do): what the order form shows."""
    if design.selected_image_id:
        return design.selected_image_id
    if not design_images:
        return None
    newest = max(image.round for image in design_images)
    concepts = [image for image in design_images if image.round == newest]
    return next((image.id for image in concepts if not image.metal_looks_off), concepts[0].id)


def drawn_with_current_spec(design: Design, image: Image) -> bool:
    """Whether the image shows the design's materials as they are now."""
    # The drawn spec itself decides: images from before revisions were kept all say revision 1.
    return Spec.model_validate_json(image.spec_json) == design.spec


def changed_since(drawn: Spec, spec: Spec) -> list[str]:
    """What differs between the spec an image was drawn from and `spec`, in the words a
    customer or jeweler uses ('the metal', 'the stones'); empty when they agree."""
    changes = []
    if drawn.piece_type != spec.piece_type or drawn.effective_style != spec.effective_style:
        changes.append("the piece")
    if drawn.metal != spec.metal:
        changes.append("the metal")
    if [(g.role, g.type, g.shape, g.count) for g in drawn.stones] != [(g.role, g.type, g.shape, g.count)
                                                                       for g in spec.stones]:
        changes.append("the stones")
    elif [(g.length_mm, g.width_mm) for g in drawn.stones] != [(g.length_mm, g.width_mm) for g in spec.stones]:
        changes.append("the stone sizes")
    if (drawn.band_width_mm, drawn.band_thickness_mm, drawn.profile, drawn.finish) != \
            (spec.band_width_mm, spec.band_thickness_mm, spec.profile, spec.finish):
        changes.append("the band")
    if (drawn.ring_size, drawn.chain_length_mm, drawn.bracelet_length_mm, drawn.hoop_diameter_mm) != \
            (spec.ring_size, spec.chain_length_mm, spec.bracelet_length_mm, spec.hoop_diameter_mm):
        changes.append("the size")
    return changes


def lineage(store: Store, image_id: str) -> list[Image]:
    """The chain of images from the first round down to this one."""
    chain, seen = [], set()
    current: str | None = image_id
    while current and current not in seen:
        seen.add(current)
        image = get_image(store, current)
        chain.append(image)
        current = image.parent_id
    return list(reversed(chain))
