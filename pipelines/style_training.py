"""One shift of training a store's style, as the generation worker runs it between
customers: draw the validation samples without the LoRA (once), train from the last
checkpoint until done or until the worker wants the GPU back, draw the samples with the
LoRA at each checkpoint and at the end, and install the finished LoRA through the model
manager (sha256 in the lock file), switched off until the jeweler turns it on.

The worker speaks to it through `hooks` (appliance.studio.worker.TrainingHooks):
should_yield(), progress(step, loss), samples(step, images), has_samples(step),
start_over(). A customer waiting is asked about between every phase (the samples, the
photo cache, loading the UNet, every step), and checkpoint samples are skipped rather
than drawn while one waits. A style whose photos, captions or settings changed since its
checkpoint starts over rather than mixing two trainings.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from pathlib import Path

from appliance.ops.models import ModelStore
from appliance.studio.generation import DeviceLost
from pipelines.sdxl import FATAL_MARKERS, GeneratorBroken
from pipelines.training import (
    CheckpointMismatch,
    LoraTrainer,
    TrainingConfig,
    TrainingError,
    discard_checkpoints,
    save_lora,
)
from pipelines.training_data import TrainingPhoto

log = logging.getLogger(__name__)

# Validation samples are drawn this many times over a run (plus before it and at its end).
SAMPLE_CHECKPOINTS = 4


@dataclass(frozen=True)
class ShiftResult:
    status: str                 # trained | yielded
    step: int
    lora_sha256: str | None = None


class StyleTrainer:
    """Trains the worker's styles on the base model its generator draws with."""

    def __init__(self, generator, models: ModelStore, *, resolution: int = 1024, sample_size: int = 1024,
                 device: str | None = None):
        self.generator = generator
        self.models = models
        self.resolution = resolution
        self.sample_size = sample_size
        self.device = device

    def config_for(self, steps: int) -> TrainingConfig:
        import torch
        on_gpu = str(self.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
        # A 24 GB card needs gradient checkpointing at 1024 px; a large card trains faster without.
        small_card = on_gpu and torch.cuda.get_device_properties(0).total_memory < 40 * 2**30
        return TrainingConfig(resolution=self.resolution, max_steps=steps,
                              checkpoint_every=max(1, steps // SAMPLE_CHECKPOINTS), gradient_checkpointing=small_card)

    def __call__(self, job, hooks) -> ShiftResult:
        """Train `job` (an appliance.studio.training_queue.TrainingJob) until done or told to yield."""
        try:
            return self._shift(job, hooks)
        except RuntimeError as exc:
            if isinstance(exc, DeviceLost) or not any(marker in str(exc) for marker in FATAL_MARKERS):
                raise
            raise GeneratorBroken(f"CUDA became unusable while training: {exc}") from exc

    def _shift(self, job, hooks) -> ShiftResult:
        style = job.style
        manifest = self.models.manifest()
        by_kind = {spec.kind: spec for spec in manifest.values()}
        if "base" not in by_kind:
            raise TrainingError("The model manifest names no base model to train on.")
        base_dir = self.models.folder(by_kind["base"])
        checkpoint = self.models.checkpoint(by_kind["base"])        # a single-file base, or None
        vae_dir = self.models.folder(by_kind["vae"]) if "vae" in by_kind else None
        self.generator.load()
        if not hooks.has_samples(0) and not hooks.should_yield():
            self._sample(job, hooks, 0, None)
        if hooks.should_yield():
            return ShiftResult("yielded", style.step)
        photos = [TrainingPhoto(Path(path), text, digest) for path, text, digest in job.photos]

        def at_checkpoint(step: int, unet) -> None:
            if not hooks.has_samples(step) and not hooks.should_yield():
                self._sample(job, hooks, step, unet)

        for attempt in (1, 2):
            if checkpoint is not None:
                trainer = LoraTrainer.from_checkpoint(checkpoint.file, checkpoint.config, job.work_dir,
                                                      self.config_for(style.steps), vae_dir=vae_dir, device=self.device)
            else:
                trainer = LoraTrainer.from_folder(base_dir, job.work_dir, self.config_for(style.steps),
                                                  vae_dir=vae_dir, device=self.device)
            try:
                outcome = trainer.train(photos, on_progress=hooks.progress, should_yield=hooks.should_yield,
                                        on_checkpoint=at_checkpoint)
                break
            except CheckpointMismatch as exc:
                if attempt == 2:
                    raise
                log.warning("style %s starts over: %s", style.name, exc)
                discard_checkpoints(job.work_dir)
                hooks.start_over()
            finally:
                del trainer
                _free()
        if outcome.status == "yielded":
            return ShiftResult("yielded", outcome.step)
        if not hooks.has_samples(outcome.step):
            self._sample(job, hooks, outcome.step, outcome.lora_path)
        installed = self.models.import_style(style.name, outcome.lora_path, style.trigger, 1.0, enabled=False,
                                             source="trained")
        log.info("style %s trained (%d steps) and installed, switched off: %s", style.name, outcome.step,
                 installed.sha256[:12])
        return ShiftResult("trained", outcome.step, installed.sha256)

    def _sample(self, job, hooks, step: int, lora) -> None:
        """The validation prompts drawn by the generator at `step`: without the LoRA (None),
        with a LoRA file, or with the training UNet's LoRA as it stands (written to a
        scratch file the generator loads). A sample that cannot be drawn (the card is
        short of memory beside the training) is logged and skipped, never the style failed."""
        scratch = None
        try:
            if lora is not None and not isinstance(lora, (str, Path)):
                scratch = Path(job.work_dir) / "sample-lora.safetensors"
                save_lora(lora, scratch)
                lora = scratch
            images = self._render(job, lora)
        except DeviceLost:
            raise
        except Exception as exc:  # noqa: BLE001 -- samples help the jeweler judge; training goes on without them
            if any(marker in str(exc) for marker in FATAL_MARKERS):
                raise
            log.error("style %s: the samples at step %d could not be drawn (%s); training goes on",
                      job.style.name, step, exc)
            _free()
            return
        finally:
            if scratch is not None:
                scratch.unlink(missing_ok=True)
        hooks.samples(step, images)

    def _render(self, job, lora: Path | None) -> list:
        return self.generator.render_samples(job.validation, job.seeds, job.style.trigger, lora, self.sample_size)


def _free() -> None:
    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
