"""DDPM epsilon-prediction training and batched sampling with diffusers' schedulers.

Determinism: every random draw (model init, batches, noise, time steps, sampler noise) comes from a torch
generator seeded from an integer, and noise is drawn on the CPU then moved, so a seed gives the same numbers
on the same device and thread count.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from memgen_cli.errors import MemgenError
from .params import DEVICES, SAMPLERS, SCHEDULES

LOGSNR_FIRST, LOGSNR_LAST = 9.21, -6.91  # alpha_bar from 0.9999 at the first step to 0.001 at the last


def logsnr_linear_betas(steps: int) -> np.ndarray:
    """Betas whose log signal-to-noise ratio ln(alpha_bar / (1 - alpha_bar)) falls linearly from 9.21 to -6.91.

    Reaches noise at any step count (alpha_bar_T = 1e-3) without the last-step beta of 0.999 that the cosine
    schedule needs at few steps: there the x0 estimate divides by sqrt(alpha_bar_T) and a small epsilon error
    explodes (tiny preset, 10 steps: sample std ~6 instead of ~0.2).
    """
    logsnr = np.linspace(LOGSNR_FIRST, LOGSNR_LAST, steps)
    alpha_bar = 1.0 / (1.0 + np.exp(-logsnr))
    return 1.0 - alpha_bar / np.concatenate([[1.0], alpha_bar[:-1]])


# schedule name (params.SCHEDULES) -> diffusers scheduler options (beyond num_train_timesteps); callables get
# the step count
SCHEDULE_OPTIONS: dict[str, dict] = {
    "logsnr_linear": {"trained_betas": logsnr_linear_betas},
    # Cosine schedule (Nichol & Dhariwal), diffusers' squaredcos_cap_v2: alpha_bar_T ~ 2e-5 at 10 steps
    # (last beta capped at 0.999), which makes few-step sampling fragile (see logsnr_linear_betas).
    "cosine": {"beta_schedule": "squaredcos_cap_v2"},
    # The published code: beta linear from 1e-4 to 0.02 over the steps. At 10 steps alpha_bar ends near 0.9:
    # training never sees pure noise, yet sampling starts from N(0, I). Kept for fidelity.
    "published": {"beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02},
}


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when CUDA is present, else 'cpu'; 'cuda' without CUDA is a user error."""
    if device not in DEVICES:
        raise MemgenError(f"device: unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise MemgenError("device: 'cuda' requested but CUDA is not available (use 'auto' or 'cpu')")
    return device


def check_schedule(name: str) -> None:
    if name not in SCHEDULES:
        raise MemgenError(f"schedule: unknown schedule {name!r} (choose from {', '.join(SCHEDULES)})")


def check_sampler(name: str) -> None:
    if name not in SAMPLERS:
        raise MemgenError(f"sampler: unknown sampler {name!r} (choose from {', '.join(SAMPLERS)})")


def make_scheduler(schedule: str, steps: int, sampler: str = "ddpm"):
    """A diffusers scheduler for ``steps`` diffusion steps; no clamping of predictions (clip_sample=False)."""
    from diffusers import DDIMScheduler, DDPMScheduler

    check_schedule(schedule)
    check_sampler(sampler)
    cls = DDPMScheduler if sampler == "ddpm" else DDIMScheduler
    options = {k: (v(steps).tolist() if callable(v) else v) for k, v in SCHEDULE_OPTIONS[schedule].items()}
    return cls(num_train_timesteps=steps, clip_sample=False, prediction_type="epsilon",
               timestep_spacing="trailing", **options)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def init_model(build, seed: int):
    """Build a model with its weights drawn from ``seed`` without touching the global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


def epoch_batch_size(n: int, batch_size: int) -> int:
    """Batch size of the epochs budget: as a data loader over n images would give, min(batch_size, n)."""
    return min(batch_size, n)


def steps_for_epochs(epochs: int, n: int, batch_size: int) -> int:
    """Steps for ``epochs`` passes over n images in batches of epoch_batch_size (the paper's protocol: at
    n = 10, batch 128 and 20 epochs that is 20 steps of 10 images)."""
    return math.ceil(epochs * n / epoch_batch_size(n, batch_size))


def _batch_indices(n: int, batch_size: int, gen: torch.Generator):
    """Endless batches of exactly batch_size indices from a stream of fresh permutations of range(n).

    Every image appears equally often; when n < batch_size a batch holds several copies of each image (with
    different noise and time steps), so a small training set still gets full-size, low-variance batches.
    """
    stream = torch.empty(0, dtype=torch.long)
    while True:
        while stream.numel() < batch_size:
            stream = torch.cat([stream, torch.randperm(n, generator=gen)])
        yield stream[:batch_size]
        stream = stream[batch_size:]


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """(n, side, side) -> (n, 1, side, side); (n, side, side, C) -> (n, C, side, side); float32 on the CPU."""
    data = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    return data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2).contiguous()


def from_nchw(x: torch.Tensor) -> np.ndarray:
    """The inverse of ``to_nchw``, as float64 numpy."""
    x = x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)
    return x.double().cpu().numpy()


PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str, device: str) -> str:
    """'auto' -> 'bf16' (autocast) on CUDA, 'fp32' on CPU, where float32 stays as exact as it always was."""
    if precision not in PRECISIONS:
        raise MemgenError(f"compute.precision: unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    if precision == "auto":
        return "bf16" if device == "cuda" else "fp32"
    return precision


def prepare_device(device: str) -> None:
    """On CUDA, let float32 matrix products and convolutions use TF32 tensor cores (about 10 bits of mantissa
    in the products, float32 accumulation): the usual setting for training. Nothing on CPU."""
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def autocast(device: str, precision: str):
    """bf16 autocast where asked (the forward pass and loss; weights and Adam stay float32)."""
    return torch.autocast(device_type="cuda" if device == "cuda" else "cpu", dtype=torch.bfloat16,
                          enabled=precision == "bf16")


def draw_step(data: torch.Tensor, batches, gen: torch.Generator, total: int, dtype: torch.dtype = torch.float32):
    """One step's random draws for one simulation, in this order: its batch, noise, time steps (CPU).

    ``train`` and ``grouped.train_together`` both draw through here, so a simulation's numbers do not depend
    on whether it trains alone or in a group."""
    x0 = data[next(batches)]
    noise = torch.randn(x0.shape, generator=gen, dtype=dtype)
    t = torch.randint(0, total, (x0.shape[0],), generator=gen)
    return x0, noise, t


def train(model, images_pm1: np.ndarray, scheduler, *, train_steps: int, batch_size: int, lr: float, seed: int,
          device: str, every: int | None = None, checkpoint=None, precision: str = "fp32",
          compile_model: bool = False, dtype: torch.dtype = torch.float32) -> np.ndarray:
    """Adam on the DDPM epsilon loss for ``train_steps`` steps; returns the loss of every step.

    Batches of exactly batch_size images walk through fresh permutations of the n images (see
    ``_batch_indices``); time steps are uniform over the scheduler's steps. With ``every``, after every
    every-th step before the last, ``checkpoint(step, losses so far)`` runs (it may sample from the model,
    which draws from its own generators: the training's numbers are those of a run without checkpoints).
    On CUDA: TF32 (``prepare_device``), channels-last memory, ``precision`` "bf16" autocast, and
    ``compile_model`` compiles the forward pass; on CPU only ``precision`` applies. ``dtype``: of the data and
    the arithmetic (float64 in the tests that compare with ``grouped.train_together``).
    """
    gen = _generator(seed)
    data = to_nchw(images_pm1).to(dtype)  # (n, C, side, side), CPU
    batches = _batch_indices(data.shape[0], batch_size, gen)
    alphas_cumprod = scheduler.alphas_cumprod.to(device=device, dtype=dtype)
    total = scheduler.config.num_train_timesteps
    prepare_device(device)
    memory = torch.channels_last if device == "cuda" else torch.contiguous_format
    model.to(device).train()
    if device == "cuda":
        model.to(memory_format=memory)
    forward = torch.compile(model) if compile_model and device == "cuda" else model
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = np.empty(train_steps)
    for step in range(train_steps):
        x0, noise, t = (v.to(device) for v in draw_step(data, batches, gen, total, dtype))
        a = alphas_cumprod[t].view(-1, 1, 1, 1)
        noisy = (a.sqrt() * x0 + (1 - a).sqrt() * noise).contiguous(memory_format=memory)
        with autocast(device, precision):
            loss = torch.nn.functional.mse_loss(forward(noisy, t).sample.to(noise.dtype), noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses[step] = loss.item()
        if every and checkpoint is not None and (step + 1) % every == 0 and step + 1 < train_steps:
            checkpoint(step + 1, losses[:step + 1])
            model.train()
    return losses


@torch.no_grad()
def sample(model, scheduler, count: int, side: int, *, seed: int, device: str, sample_steps: int | None = None,
           channels: int = 1) -> np.ndarray:
    """All ``count`` images in one batch, from N(0, I) through the scheduler; returns (count, side, side) (or
    (count, side, side, C)) in [-1, 1] model units (float64, not clamped)."""
    gen = _generator(seed)
    model.to(device).eval()
    scheduler.set_timesteps(sample_steps or scheduler.config.num_train_timesteps)
    x = torch.randn((count, channels, side, side), generator=gen).to(device)
    for t in scheduler.timesteps:
        eps = model(x, t.to(device)).sample
        x = scheduler.step(eps, t, x, generator=gen).prev_sample
    return from_nchw(x)
