"""A style LoRA for SDXL trained on the store's own photos, the way diffusers'
train_text_to_image_lora_sdxl example does it: a peft LoRA on the UNet's attention
projections, the rest frozen; mixed precision through accelerate (bf16 or fp16 on a GPU,
none on the CPU); optional gradient checkpointing; latents and caption embeddings cached
once (pipelines.training_data); a DDPM noise schedule from the base model's own config
(epsilon or v-prediction as it says) with min-SNR-gamma loss weighting; AdamW on the
LoRA weights only.

A job is reproducible and interruptible: one seed fixes everything, a checkpoint holds
the LoRA weights, the optimizer, the step and every random state (torch, CUDA, numpy,
Python, and the data order), so N steps, a stop, and M more give the weights N+M steps
in one go give. Between steps the trainer asks `should_yield()`; when it says yes the
trainer checkpoints and returns "yielded" so a customer's round can use the GPU, and the
next `train` call carries on. The result is a diffusers LoRA safetensors file that
pipelines.sdxl loads with load_lora_weights like any other style LoRA.

    trainer = LoraTrainer.from_folder(base_dir, job_dir, TrainingConfig(max_steps=1000))
    outcome = trainer.train(photos, on_progress=report, should_yield=customer_waiting)
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from pipelines.training_data import (
    Encoders,
    TrainingExample,
    TrainingPhoto,
    cache_examples,
    cache_key,
    load_checkpoint_encoders,
    load_encoders,
)

log = logging.getLogger(__name__)

TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
ADAPTER = "default"
_COMPLETE = "complete"
# Changing these between a checkpoint and its resume changes nothing already learned.
_RESUMABLE_CHANGES = ("max_steps", "checkpoint_every", "keep_checkpoints", "lora_name", "gradient_checkpointing")


class TrainingError(RuntimeError):
    """A training job cannot start or resume; the message says why."""


class CheckpointMismatch(TrainingError):
    """The job's checkpoint was made from other photos, captions or settings: resuming it
    would mix two trainings. The caller starts the job over."""


@dataclass(frozen=True)
class TrainingConfig:
    """How one LoRA is trained; every field has the value a store would start from."""
    resolution: int = 1024
    rank: int = 16
    alpha: float | None = None            # None: alpha = rank (scale 1)
    learning_rate: float = 1e-4
    warmup_steps: int = 0
    batch_size: int = 1
    max_steps: int = 1000
    snr_gamma: float | None = 5.0         # None: plain MSE
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    seed: int = 0
    center_crop: bool = True
    mixed_precision: str = "auto"         # auto | no | bf16 | fp16
    gradient_checkpointing: bool = False
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    lora_name: str = "lora.safetensors"

    def identity(self) -> dict:
        """What a checkpoint must agree with to be resumed."""
        return {k: v for k, v in asdict(self).items() if k not in _RESUMABLE_CHANGES}


@dataclass
class TrainingOutcome:
    status: str                           # done | yielded
    step: int
    max_steps: int
    lora_path: Path | None = None         # the finished LoRA (status done)
    checkpoint: Path | None = None
    losses: list[float] = field(default_factory=list)   # this call's steps


def choose_precision(device: str, asked: str = "auto") -> str:
    """accelerate's mixed_precision for a device: none on the CPU, bf16 where the GPU has it, else fp16."""
    import torch
    if asked != "auto":
        return asked
    if device == "cpu":
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


class LoraTrainer:
    """Trains one LoRA in one job folder (cache/, checkpoint-NNNNNN/, the result)."""

    def __init__(self, job_dir: Path, config: TrainingConfig, *, load_unet: Callable, load_encoders: Callable[[], Encoders],
                 scheduler_config: dict, device: str | None = None):
        """`load_unet(dtype)` gives the base UNet (frozen weights in that dtype); `load_encoders()`
        the VAE and text encoders, called only when a photo is not cached yet."""
        import torch
        self.job_dir = Path(job_dir)
        self.config = config
        self.load_unet = load_unet
        self.load_encoders = load_encoders
        self.scheduler_config = dict(scheduler_config)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    @classmethod
    def from_folder(cls, base_dir: Path, job_dir: Path, config: TrainingConfig, *, vae_dir: Path | None = None,
                    device: str | None = None) -> "LoraTrainer":
        """A trainer for an installed base model folder (and the fp16-fixed VAE, when given)."""
        import torch
        from diffusers import DDPMScheduler, UNet2DConditionModel

        base_dir = Path(base_dir)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        variant = "fp16" if any(base_dir.rglob("*.fp16.safetensors")) else None

        def unet(dtype):
            return UNet2DConditionModel.from_pretrained(base_dir, subfolder="unet", variant=variant, dtype=dtype)

        scheduler = DDPMScheduler.from_pretrained(base_dir, subfolder="scheduler")
        return cls(job_dir, config, load_unet=unet, load_encoders=lambda: load_encoders(base_dir, vae_dir, device),
                   scheduler_config=scheduler.config, device=device)

    @classmethod
    def from_checkpoint(cls, file: Path, config_dir: Path, job_dir: Path, config: TrainingConfig, *,
                        vae_dir: Path | None = None, device: str | None = None) -> "LoraTrainer":
        """A trainer for a base installed as one original-layout checkpoint, its architecture
        read from the config folder installed beside it (offline, as the generator loads it)."""
        import torch
        from diffusers import DDPMScheduler, UNet2DConditionModel

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")

        def unet(dtype):
            return UNet2DConditionModel.from_single_file(str(file), config=str(config_dir), subfolder="unet",
                                                         local_files_only=True, dtype=dtype)

        scheduler = DDPMScheduler.from_pretrained(config_dir, subfolder="scheduler")
        return cls(job_dir, config, load_unet=unet,
                   load_encoders=lambda: load_checkpoint_encoders(file, config_dir, vae_dir, device),
                   scheduler_config=scheduler.config, device=device)

    # ------------------------------------------------------------------ one job

    def train(self, photos: list[TrainingPhoto], on_progress: Callable[[int, float], None] | None = None,
              should_yield: Callable[[], bool] | None = None,
              on_checkpoint: Callable[[int, object], None] | None = None) -> TrainingOutcome:
        """Train up to config.max_steps, resuming from the job's latest checkpoint. Returns
        "done" with the LoRA file, or "yielded" after a checkpoint when should_yield() said so.
        `on_checkpoint(step, unet)` follows each periodic checkpoint (sample images)."""
        import torch
        from accelerate import Accelerator
        from accelerate.utils import set_seed
        from diffusers import DDPMScheduler
        from diffusers.training_utils import cast_training_params
        from peft import LoraConfig

        config, device = self.config, self.device
        should_yield = should_yield or (lambda: False)
        if not photos:
            raise TrainingError("A LoRA needs at least one photo.")
        precision = choose_precision(device, config.mixed_precision)
        accelerator = Accelerator(mixed_precision=precision, cpu=device == "cpu")
        weight_dtype = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        set_seed(config.seed)
        checkpoint = latest_checkpoint(self.job_dir)
        state = checkpoint and _read_json(checkpoint / "state.json")
        if state and state["config"] != json.loads(json.dumps(config.identity())):
            raise CheckpointMismatch(f"{checkpoint} was made with other settings; start a new job to change them.")
        # The photos and captions a checkpoint learned from (their cache keys) must be these.
        self._keys = [cache_key(p, config.resolution, config.center_crop, config.seed) for p in photos]
        if state and state.get("photos", self._keys) != self._keys:
            raise CheckpointMismatch(f"{checkpoint} was made from other photos or captions.")
        if state and state["step"] >= config.max_steps:
            return self._finish(photos, None, checkpoint, state["step"], [])

        # 1. Latents and caption embeddings, once; the encoders are gone after this.
        examples = cache_examples(photos, self.load_encoders, self.job_dir / "cache", resolution=config.resolution,
                                  center_crop=config.center_crop, seed=config.seed, should_yield=should_yield)
        if examples is None or should_yield():        # before the UNet is loaded, too
            return TrainingOutcome("yielded", state["step"] if state else 0, config.max_steps, checkpoint=checkpoint)

        # 2. The frozen UNet in the training precision, the LoRA on its attention in float32.
        unet = self.load_unet(weight_dtype)
        unet.requires_grad_(False)
        unet.to(device, dtype=weight_dtype)
        # The LoRA's first weights from the job's seed alone, however the base was loaded
        # (a single-file load draws random numbers for the layers it then overwrites).
        set_seed(config.seed)
        unet.add_adapter(LoraConfig(r=config.rank, lora_alpha=config.alpha or config.rank,
                                    init_lora_weights="gaussian", target_modules=list(TARGET_MODULES)),
                         adapter_name=ADAPTER)
        cast_training_params(unet, dtype=torch.float32)
        if config.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        trained = {name: p for name, p in unet.named_parameters() if p.requires_grad}
        optimizer = torch.optim.AdamW(list(trained.values()), lr=config.learning_rate,
                                      weight_decay=config.weight_decay)
        unet, optimizer = accelerator.prepare(unet, optimizer)
        noise_scheduler = DDPMScheduler.from_config(self.scheduler_config)
        prediction_type = noise_scheduler.config.prediction_type
        if prediction_type not in ("epsilon", "v_prediction"):
            raise TrainingError(f"The base model predicts {prediction_type!r}; only epsilon and v_prediction train.")

        # 3. Where the job stands: fresh from the seed, or exactly where the checkpoint left it.
        order = DataOrder(len(examples), config.batch_size, config.seed)
        step = 0
        if checkpoint:
            step = self._restore(checkpoint, state, trained, optimizer, accelerator, order)
            log.info("resuming LoRA training at step %d from %s", step, checkpoint)

        # 4. Train, checking between steps whether the GPU is wanted.
        losses: list[float] = []
        unet.train()
        while step < config.max_steps:
            if should_yield():
                saved = self._save(step, trained, optimizer, accelerator, order)
                log.info("LoRA training yields at step %d", step)
                return TrainingOutcome("yielded", step, config.max_steps, checkpoint=saved, losses=losses)
            batch = [examples[i] for i in order.next_batch()]
            loss = self._step(batch, unet, optimizer, accelerator, noise_scheduler, order.generator, step,
                              weight_dtype, list(trained.values()))
            step += 1
            losses.append(loss)
            if on_progress:
                on_progress(step, loss)
            if step % config.checkpoint_every == 0 and step < config.max_steps:
                self._save(step, trained, optimizer, accelerator, order)
                if on_checkpoint:
                    on_checkpoint(step, accelerator.unwrap_model(unet))
                    unet.train()
        saved = self._save(step, trained, optimizer, accelerator, order)
        return self._finish(photos, accelerator.unwrap_model(unet), saved, step, losses)

    def _step(self, batch: list[TrainingExample], unet, optimizer, accelerator, noise_scheduler, generator, step: int,
              weight_dtype, params) -> float:
        """One optimizer step on one batch; returns its (min-SNR weighted) loss."""
        import torch
        import torch.nn.functional as F
        from diffusers.training_utils import compute_snr
        config, device = self.config, self.device
        latents = torch.stack([e.latents for e in batch]).to(device)
        # Noise and timesteps come from the job's own generator on the CPU: the same on any device.
        noise = torch.randn(latents.shape, generator=generator).to(device)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(batch),),
                                  generator=generator).to(device)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        embeds = torch.stack([e.prompt_embeds for e in batch]).to(device, weight_dtype)
        added = {"text_embeds": torch.stack([e.pooled_prompt_embeds for e in batch]).to(device, weight_dtype),
                 "time_ids": torch.stack([e.time_ids for e in batch]).to(device, weight_dtype)}
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * min(1.0, (step + 1) / max(1, config.warmup_steps))

        with accelerator.autocast():
            prediction = unet(noisy.to(weight_dtype), timesteps, embeds, added_cond_kwargs=added).sample
        if noise_scheduler.config.prediction_type == "epsilon":
            target = noise
        else:
            target = noise_scheduler.get_velocity(latents, noise, timesteps)
        if config.snr_gamma is None:
            loss = F.mse_loss(prediction.float(), target.float())
        else:
            # Min-SNR-gamma (Hang et al. 2023): no timestep's loss dominates the others.
            snr = compute_snr(noise_scheduler, timesteps)
            weights = torch.clamp(snr, max=config.snr_gamma)
            weights = weights / snr if noise_scheduler.config.prediction_type == "epsilon" else weights / (snr + 1)
            per_example = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
            loss = (per_example * weights).mean()
        accelerator.backward(loss)
        if accelerator.sync_gradients and config.max_grad_norm:
            accelerator.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach().item())

    # ------------------------------------------------------------------ checkpoints

    def _save(self, step: int, trained: dict, optimizer, accelerator, order: "DataOrder") -> Path:
        import torch
        from safetensors.torch import save_file

        folder = self.job_dir / f"checkpoint-{step:06d}"
        if (folder / _COMPLETE).exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        save_file({name: p.detach().float().cpu().contiguous() for name, p in trained.items()},
                  folder / "lora_params.safetensors")
        scaler = accelerator.scaler.state_dict() if getattr(accelerator, "scaler", None) is not None else None
        torch.save({"optimizer": optimizer.state_dict(), "scaler": scaler}, folder / "optimizer.pt")
        torch.save({"torch": torch.get_rng_state(), "data": order.generator.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                   folder / "rng.pt")
        python_state = random.getstate()
        numpy_state = np.random.get_state()
        (folder / "state.json").write_text(json.dumps({
            "step": step, "config": self.config.identity(), "photos": self._keys,
            "order": order.order, "position": order.position,
            "python_random": [python_state[0], list(python_state[1]), python_state[2]],
            "numpy_random": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        }))
        # Written last: a checkpoint without it was cut short and is never resumed.
        (folder / _COMPLETE).write_text("")
        for old in _checkpoints(self.job_dir)[:-max(1, self.config.keep_checkpoints)]:
            shutil.rmtree(old, ignore_errors=True)
        return folder

    def _restore(self, folder: Path, state: dict, trained: dict, optimizer, accelerator, order: "DataOrder") -> int:
        import torch
        from safetensors.torch import load_file

        params = load_file(folder / "lora_params.safetensors")
        if set(params) != set(trained):
            raise TrainingError(f"{folder} holds other LoRA layers than this model has.")
        with torch.no_grad():
            for name, p in trained.items():
                p.copy_(params[name].to(p.device, p.dtype))
        saved = torch.load(folder / "optimizer.pt", map_location=self.device, weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        if saved["scaler"] is not None and getattr(accelerator, "scaler", None) is not None:
            accelerator.scaler.load_state_dict(saved["scaler"])
        rng = torch.load(folder / "rng.pt", weights_only=True)
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        order.generator.set_state(rng["data"])
        order.order, order.position = list(state["order"]), state["position"]
        version, internal, gauss = state["python_random"]
        random.setstate((version, tuple(internal), gauss))
        kind, keys, *rest = state["numpy_random"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
        return state["step"]

    def _finish(self, photos, unet, checkpoint: Path, step: int, losses: list[float]) -> TrainingOutcome:
        """Write the diffusers LoRA file from the final weights (the live UNet, or the checkpoint's)."""
        path = self.job_dir / self.config.lora_name
        if unet is None:
            if path.exists():
                return TrainingOutcome("done", step, self.config.max_steps, path, checkpoint, losses)
            unet = self._unet_from_checkpoint(checkpoint)
        save_lora(unet, path)
        log.info("LoRA trained for %d steps on %d photos: %s", step, len(photos), path)
        return TrainingOutcome("done", step, self.config.max_steps, path, checkpoint, losses)

    def _unet_from_checkpoint(self, checkpoint: Path):
        import torch
        from peft import LoraConfig
        from safetensors.torch import load_file
        unet = self.load_unet(torch.float32)
        unet.add_adapter(LoraConfig(r=self.config.rank, lora_alpha=self.config.alpha or self.config.rank,
                                    init_lora_weights="gaussian", target_modules=list(TARGET_MODULES)),
                         adapter_name=ADAPTER)
        params = load_file(checkpoint / "lora_params.safetensors")
        with torch.no_grad():
            for name, p in unet.named_parameters():
                if name in params:
                    p.copy_(params[name])
        return unet


class DataOrder:
    """Which photos each step trains on: a fresh seeded shuffle every pass over the set.
    Its generator also draws each step's noise and timesteps; both are checkpointed."""

    def __init__(self, count: int, batch_size: int, seed: int):
        import torch
        self.count, self.batch_size = count, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order: list[int] = []
        self.position = 0

    def next_batch(self) -> list[int]:
        import torch
        batch = []
        for _ in range(min(self.batch_size, self.count)):
            if self.position >= len(self.order):
                self.order = torch.randperm(self.count, generator=self.generator).tolist()
                self.position = 0
            batch.append(self.order[self.position])
            self.position += 1
        return batch


def lora_state_dict(unet) -> dict:
    """The UNet's LoRA weights under diffusers' key names."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import get_peft_model_state_dict
    return convert_state_dict_to_diffusers(get_peft_model_state_dict(unet, adapter_name=ADAPTER))


def save_lora(unet, path: Path) -> Path:
    """The LoRA as one diffusers safetensors file (with its rank and alpha in the metadata),
    loadable with pipe.load_lora_weights(folder, weight_name=name)."""
    import torch
    from diffusers import StableDiffusionXLPipeline
    path = Path(path)
    layers = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in lora_state_dict(unet).items()}
    StableDiffusionXLPipeline.save_lora_weights(path.parent, unet_lora_layers=layers, weight_name=path.name,
                                                unet_lora_adapter_metadata=unet.peft_config[ADAPTER].to_dict())
    return path


def discard_checkpoints(job_dir: Path) -> None:
    """Every checkpoint and the finished LoRA of a job (its photo cache stays)."""
    for folder in _checkpoints(Path(job_dir)) + sorted(Path(job_dir).glob("checkpoint-*")):
        shutil.rmtree(folder, ignore_errors=True)


def latest_checkpoint(job_dir: Path) -> Path | None:
    """The job's newest complete checkpoint folder, if any."""
    found = _checkpoints(Path(job_dir))
    return found[-1] if found else None


def _checkpoints(job_dir: Path) -> list[Path]:
    if not job_dir.exists():
        return []
    return sorted(p for p in job_dir.glob("checkpoint-*") if (p / _COMPLETE).exists())


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())
