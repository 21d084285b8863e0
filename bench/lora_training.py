"""SDXL LoRA training speed and memory: pipelines.training on full-size SDXL.

On a GPU machine: the full-size SDXL UNet and VAE architectures with random weights
(compute does not depend on the weights) and thin random text encoders of the real
widths, 1024x1024 photos, the trainer's defaults (rank 16, batch 1, bf16 where the card
has it). Latents and embeddings are cached first, as in a real job, so the figures are
the training loop's alone. Prints seconds per 100 steps and peak GPU memory, with and
without gradient checkpointing, and the card's name. Targets (issue 14): 1,000 steps
under 10 minutes on an H100; peak memory under 20 GB so a 24 GB store card trains too.

    python bench/lora_training.py            # GPU, full size
    python bench/lora_training.py --tiny     # CPU smoke on the tests' tiny SDXL at 64x64
"""

from __future__ import annotations

import argparse
import gc
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from pipelines.training import ADAPTER, LoraTrainer, TrainingConfig, choose_precision  # noqa: E402
from pipelines.training_data import Encoders, TrainingPhoto, cache_examples  # noqa: E402


def make_photos(folder: Path, count: int, size: int) -> list[TrainingPhoto]:
    """Synthetic product photos, a little wider than tall, so every crop path runs."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for i in range(count):
        image = Image.new("RGB", (size * 5 // 4, size), (40 + 25 * i % 200, 60, 90))
        ImageDraw.Draw(image).ellipse([size // 4, size // 5, size, size * 4 // 5], outline=(240, 220, 150),
                                      width=max(2, size // 40))
        path = folder / f"piece-{i}.png"
        image.save(path)
        photos.append(TrainingPhoto(path, f"dmrstyle gold ring with a stone, photo {i}"))
    return photos


def timed_run(trainer: LoraTrainer, photos, warmup: int, steps: int) -> tuple[float, float]:
    """Seconds for `steps` steps after `warmup` steps, and the peak GPU memory in GiB."""
    stamps = {}

    def on_progress(step, loss):
        # loss.item() in the trainer already waited for the GPU: the stamp is honest.
        stamps[step] = time.perf_counter()

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train(photos, on_progress=on_progress)
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    return stamps[warmup + steps] - stamps[warmup], peak


def yield_seconds(trainer: LoraTrainer, photos, after: int) -> float:
    """Seconds from the moment a customer's round is queued (just after step `after`) to
    the trainer having checkpointed and let go: what the round waits beyond one step."""
    queued = {}

    def on_progress(step, loss):
        if step == after:
            queued["at"] = time.perf_counter()

    outcome = trainer.train(photos, on_progress=on_progress, should_yield=lambda: "at" in queued)
    assert outcome.status == "yielded", outcome.status
    return time.perf_counter() - queued["at"]


def gpu(args) -> None:
    from diffusers import DDPMScheduler
    from sdxl_gpu import full_size_pipeline

    card = torch.cuda.get_device_name(0)
    precision = choose_precision("cuda")
    root = Path(tempfile.mkdtemp(prefix="lora-bench-"))
    print(f"device: cuda ({card}), torch {torch.__version__}, {args.resolution}x{args.resolution}, "
          f"mixed precision {precision}, rank {args.rank}, batch {args.batch_size}")
    pipe = full_size_pipeline("cpu", torch.float32)
    scheduler_config = DDPMScheduler.from_config(pipe.scheduler.config).config
    unet = pipe.unet
    encoders = Encoders(pipe.vae.to("cuda"), (pipe.tokenizer, pipe.tokenizer_2),
                        (pipe.text_encoder.to("cuda"), pipe.text_encoder_2.to("cuda")), "cuda")
    del pipe
    photos = make_photos(root / "photos", args.photos, args.resolution)
    start = time.perf_counter()
    cache_examples(photos, lambda: encoders, root / "cache", resolution=args.resolution, center_crop=True, seed=0)
    print(f"cached {len(photos)} photos' latents and embeddings in {time.perf_counter() - start:.1f} s")
    encoders.free()
    gc.collect()
    torch.cuda.empty_cache()

    for checkpointing in (True, False):
        job = root / f"job-{checkpointing}"
        shutil.copytree(root / "cache", job / "cache")
        config = TrainingConfig(resolution=args.resolution, rank=args.rank, batch_size=args.batch_size,
                                max_steps=args.warmup + args.steps, gradient_checkpointing=checkpointing,
                                checkpoint_every=10**9)
        trainer = LoraTrainer(job, config, load_unet=lambda dtype: unet, load_encoders=_no_encoders,
                              scheduler_config=scheduler_config, device="cuda")
        try:
            seconds, peak = timed_run(trainer, photos, args.warmup, args.steps)
        except torch.cuda.OutOfMemoryError:
            print(f"gradient checkpointing {'on' if checkpointing else 'off'}: out of GPU memory on {card}")
            seconds = peak = None
        if seconds is not None:
            per_100 = seconds * 100 / args.steps
            print(f"gradient checkpointing {'on ' if checkpointing else 'off'}: {per_100:.1f} s per 100 steps "
                  f"({args.steps / seconds:.2f} steps/s, 1,000 steps in {per_100 * 10 / 60:.1f} min), "
                  f"peak GPU memory {peak:.2f} GiB ({peak * 2**30 / 1e9:.1f} GB) on {card}")
        if seconds is not None and checkpointing:
            unet.delete_adapters(ADAPTER)
            unet.disable_gradient_checkpointing()
            job = root / "job-yield"
            shutil.copytree(root / "cache", job / "cache")
            config = TrainingConfig(resolution=args.resolution, rank=args.rank, batch_size=args.batch_size,
                                    max_steps=args.warmup + 10, gradient_checkpointing=True, checkpoint_every=10**9)
            trainer = LoraTrainer(job, config, load_unet=lambda dtype: unet, load_encoders=_no_encoders,
                                  scheduler_config=scheduler_config, device="cuda")
            waited = yield_seconds(trainer, photos, args.warmup)
            print(f"a customer's round queued mid-training waits one step ({per_100 / 100:.2f} s) plus the "
                  f"checkpoint: {waited:.2f} s")
        # The same UNet serves the next run: take this run's LoRA off it.
        if ADAPTER in getattr(unet, "peft_config", {}):
            unet.delete_adapters(ADAPTER)
        unet.disable_gradient_checkpointing()
        del trainer
        gc.collect()
        torch.cuda.empty_cache()
    print("targets: 1,000 steps under 10 min on an H100; peak under 20 GB for a 24 GB card")


def tiny(args) -> None:
    from tests.pipelines.tiny_sdxl import build
    root = Path(tempfile.mkdtemp(prefix="lora-bench-tiny-"))
    base = build(root / "base")
    steps, warmup = min(args.steps, 10), min(args.warmup, 2)
    config = TrainingConfig(resolution=64, rank=4, batch_size=1, max_steps=warmup + steps, checkpoint_every=10**9)
    trainer = LoraTrainer.from_folder(base, root / "job", config, device="cpu")
    photos = make_photos(root / "photos", 4, 64)
    seconds, _ = timed_run(trainer, photos, warmup, steps)
    print(f"device: cpu ({platform.processor() or platform.machine()}), torch {torch.__version__}, tiny SDXL 64x64: "
          f"{seconds * 100 / steps:.1f} s per 100 steps (a smoke figure, not SDXL's)")
    trainer = LoraTrainer.from_folder(base, root / "job-yield", TrainingConfig(
        resolution=64, rank=4, batch_size=1, max_steps=warmup + steps, checkpoint_every=10**9), device="cpu")
    waited = yield_seconds(trainer, photos, warmup)
    print(f"a customer's round queued mid-training waits one step plus the checkpoint: {waited:.3f} s")


def _no_encoders():
    raise RuntimeError("the benchmark caches every photo before training")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CPU smoke on the tests' tiny SDXL")
    parser.add_argument("--steps", type=int, default=100, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (kernels, allocator)")
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--photos", type=int, default=8)
    args = parser.parse_args()
    if args.tiny:
        tiny(args)
    elif torch.cuda.is_available():
        gpu(args)
    else:
        sys.exit("No CUDA GPU here: this benchmark times SDXL LoRA training at 1024 px on a GPU. "
                 "Run it with --tiny for a CPU smoke on the tiny test model.")


if __name__ == "__main__":
    main()
