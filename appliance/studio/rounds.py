"""The customer's rounds, one function per use case that the studio page and the JSON API
both call: start a design from words (its first round queued at once), and ask for another
round (an instruction may change the spec, which then becomes a new revision with the
round, so the picture, the panel and the price move together)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.jewelry.specs import Spec
from appliance.reader.instructions import revise_spec
from appliance.storage.store import Store
from appliance.studio import designs, jobs

FIRST_ROUND_IMAGES = 4


@dataclass
class Round:
    design: designs.Design
    job: jobs.Job
    changes: list[str]          # what the instruction changed in the spec, in words


def start_design(store: Store, description: str, piece_type: str | None, *, max_waiting: int) -> Round:
    """A design read from the customer's words, with its first round of concepts queued."""
    design = designs.create_design(store, description, piece_type)
    job = jobs.enqueue(store, design.id, count=FIRST_ROUND_IMAGES, max_waiting=max_waiting)
    return Round(design, job, [])


def start_chosen_design(store: Store, description: str, spec: Spec, facts: list[dict], *,
                        max_waiting: int) -> Round:
    """A design whose spec the customer chose step by step, its first round queued."""
    design = designs.create_design_from_spec(store, description, spec, facts)
    job = jobs.enqueue(store, design.id, count=FIRST_ROUND_IMAGES, max_waiting=max_waiting)
    return Round(design, job, [])


def new_round(store: Store, design_id: str, *, instruction: str | None = None, parent_image_id: str | None = None,
              reference_id: str | None = None, mask_id: str | None = None, count: int = FIRST_ROUND_IMAGES,
              strength: str | None = None, max_waiting: int) -> Round:
    """Another round of concepts. Words that change the piece ('make it platinum', 'a 2
    carat emerald cut stone') revise the spec in the same transaction that queues the
    round; nothing is changed when the round cannot be queued."""
    design = designs.get_design(store, design_id)
    spec, changes = revise_spec(design.spec, instruction)
    job = jobs.enqueue(store, design_id, instruction=instruction, parent_image_id=parent_image_id,
                       reference_id=reference_id, mask_id=mask_id, count=count, max_waiting=max_waiting,
                       spec=spec if changes else None, strength=strength)
    return Round(designs.get_design(store, design_id), job, changes)
