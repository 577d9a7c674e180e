"""DDPM epsilon-prediction training and batched sampling with diffusers' schedulers.

Determinism: every random draw (model init, batches, noise, time steps, sampler noise) comes from a torch
generator seeded from an integer, and noise is drawn on the CPU then moved, so a seed gives the same numbers
on the same device and thread count.
"""

from __future__ import annotations

import numpy as np
import torch

from memgen_cli.errors import MemgenError
from memgen_cli.imaging import schedules

from .params import DEVICES


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when CUDA is present, else 'cpu'; 'cuda' without CUDA is a user error. A config's device
    is checked by its type (params.Device); ``simulate`` takes a plain string, checked here against the same list."""
    if device not in DEVICES:
        raise MemgenError(f"device: unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise MemgenError("device: 'cuda' requested but CUDA is not available (use 'auto' or 'cpu')")
    return device


def make_scheduler(schedule: str, steps: int, sampler: str = "ddpm"):
    """A diffusers scheduler for ``steps`` diffusion steps; no clamping of predictions (clip_sample=False).

    Its betas are imaging.schedules' (float64, rounded to float32 by diffusers), the numbers the closed-form
    model samples with: for logsnr_linear and cosine they are the very float32 values diffusers computes
    itself; for published diffusers' own float32 linspace differs in the last bit of a few betas, not in
    alpha_bar at the 10 steps of every shipped config (tests/test_image_schedules.py).
    """
    from diffusers import DDIMScheduler, DDPMScheduler

    schedules.check_sampler(sampler)
    cls = DDPMScheduler if sampler == "ddpm" else DDIMScheduler
    return cls(num_train_timesteps=steps, clip_sample=False, prediction_type="epsilon",
               timestep_spacing="trailing", trained_betas=schedules.betas(schedule, steps).tolist())


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def init_model(build, seed: int):
    """Build a model with its weights drawn from ``seed`` without touching the global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


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


def resolve_precision(precision: str, device: str) -> str:
    """'auto' -> 'bf16' (autocast) on CUDA, 'fp32' on CPU, where float32 stays as exact as it always was. (The
    name is checked by the config: params.UnetCompute.)"""
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


HELDOUT_IMAGES = 256  # held-out images in the loss along training: one forward batch, the same at every checkpoint
_HELDOUT_CHUNK = 128


@torch.no_grad()
def heldout_loss(model, images_pm1: np.ndarray, scheduler, *, seed: int, device: str) -> float:
    """The DDPM epsilon loss of ``model`` on images it was not trained on: each image once, at a time step taken
    in turn over all of the scheduler's steps (stratified, so the estimate is not at the mercy of a few draws
    of t), with noise and the order of the steps fixed by ``seed``. The same images, noise and steps at every
    checkpoint of a simulation, so the curve moves only with the model. float32, no autocast, eval mode (the
    caller puts a training model back in train mode)."""
    gen = _generator(seed)
    x0 = to_nchw(images_pm1)
    total = scheduler.config.num_train_timesteps
    noise = torch.randn(x0.shape, generator=gen)
    t = (torch.arange(x0.shape[0]) % total)[torch.randperm(x0.shape[0], generator=gen)]
    a = scheduler.alphas_cumprod.to(torch.float32)[t].view(-1, 1, 1, 1)
    noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
    model.eval()
    dtype = next(model.parameters()).dtype
    total_sq = 0.0
    for start in range(0, x0.shape[0], _HELDOUT_CHUNK):
        stop = start + _HELDOUT_CHUNK
        predicted = model(noisy[start:stop].to(device, dtype), t[start:stop].to(device)).sample.float().cpu()
        total_sq += float(((predicted - noise[start:stop]) ** 2).sum())
    return total_sq / noise.numel()


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
