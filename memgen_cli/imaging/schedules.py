"""The U-Net's noise schedules and samplers as plain numpy (float64), without torch or diffusers.

Any image model that predicts x0 (the closed-form denoiser) samples through here exactly as the U-Net samples
through diffusers: the same betas, alpha_bar, trailing time steps and DDPM / DDIM updates as the
DDPMScheduler / DDIMScheduler that ``unet.diffusion.make_scheduler(schedule, steps, sampler)`` builds
(num_train_timesteps=steps, clip_sample=False, prediction_type="epsilon", timestep_spacing="trailing",
diffusers' defaults otherwise: variance_type "fixed_small", set_alpha_to_one, eta = 0). diffusers keeps its
schedule in float32; these are the same formulas in float64. An x0 model can also take the σ-CFDM reference
code's Euler steps on the probability-flow ODE (sampler "euler"), which diffusers does not have.

Everything is in model scale (2x - 1 of [0, 1] pixel units); x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps.

The schedule and sampler names, and the sampling section of an image experiment's config (``ImageSampling``),
live here too, beside the numbers they name: the U-Net's diffusers schedulers take their betas from here, so
both models read one list of names and one set of numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from memgen_cli.config import Integer
from memgen_cli.errors import MemgenError

SCHEDULES = ("logsnr_linear", "cosine", "published")
SAMPLERS = ("ddpm", "ddim")  # diffusers' too: every image model (the U-Net samples through diffusers)
ODE_SAMPLERS = ("euler",)  # an x0 model's only (the closed-form model): the σ-CFDM reference's Euler steps
X0_SAMPLERS = SAMPLERS + ODE_SAMPLERS
LOGSNR_FIRST, LOGSNR_LAST = 9.21, -6.91  # alpha_bar from 0.9999 at the first step to 0.001 at the last
PUBLISHED_BETA_START, PUBLISHED_BETA_END = 1e-4, 0.02
COSINE_MAX_BETA = 0.999  # diffusers' cap on the cosine schedule's betas
VARIANCE_FLOOR = 1e-20  # diffusers clamps the DDPM variance here (it takes logs of it elsewhere)


Schedule = Literal[SCHEDULES]  # type: ignore[valid-type]  (a config's schedule: checked where it is read)
Sampler = Literal[SAMPLERS]  # type: ignore[valid-type]
X0Sampler = Literal[X0_SAMPLERS]  # type: ignore[valid-type]


class ImageSampling(BaseModel):
    """The config's sampling section, for every image experiment (the U-Net, the closed-form model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sampler: Sampler = "ddpm"
    sample_steps: Integer | None = Field(default=None, ge=1, description="sampler steps (default: all steps)")
    generated: Integer = Field(default=10, ge=1, description="images generated per simulation (paper 10)")


# The guards of the functions below, for callers that pass names not read through a config (whose Literal
# types refuse them first, with the field's path).
def check_schedule(name: str) -> None:
    if name not in SCHEDULES:
        raise MemgenError(f"schedule: unknown schedule {name!r} (choose from {', '.join(SCHEDULES)})")


def check_sampler(name: str, choices: tuple[str, ...] = SAMPLERS) -> None:
    if name not in choices:
        raise MemgenError(f"sampler: unknown sampler {name!r} (choose from {', '.join(choices)})")


# --------------------------------------------------------------------------------------------------------------
# Schedules


def logsnr_linear_betas(steps: int) -> np.ndarray:
    """Betas whose log signal-to-noise ratio ln(alpha_bar / (1 - alpha_bar)) falls linearly from 9.21 to -6.91.

    Reaches noise at any step count (alpha_bar_T = 1e-3) without the last-step beta of 0.999 that the cosine
    schedule needs at few steps: there the x0 estimate divides by sqrt(alpha_bar_T) and a small epsilon error
    explodes. diffusers has no such schedule: the U-Net passes these betas to it (as it does every schedule's).
    """
    logsnr = np.linspace(LOGSNR_FIRST, LOGSNR_LAST, steps)
    alpha_bar = 1.0 / (1.0 + np.exp(-logsnr))
    return 1.0 - alpha_bar / np.concatenate([[1.0], alpha_bar[:-1]])


def cosine_betas(steps: int) -> np.ndarray:
    """diffusers' "squaredcos_cap_v2" (Nichol & Dhariwal): betas of alpha_bar(t) = cos²((t + 0.008) / 1.008 · π/2),
    each capped at 0.999. Evaluated with ``math.cos`` term by term as diffusers does, so the float64 values are
    the very ones diffusers rounds to float32 (1 - ratio cancels at small betas: a vectorised cos would differ)."""
    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    return np.array([min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), COSINE_MAX_BETA)
                     for i in range(steps)])


def published_betas(steps: int) -> np.ndarray:
    """The published code's schedule: beta linear from 1e-4 to 0.02 over the steps."""
    return np.linspace(PUBLISHED_BETA_START, PUBLISHED_BETA_END, steps)


_BETAS: dict[str, Callable[[int], np.ndarray]] = {
    "logsnr_linear": logsnr_linear_betas, "cosine": cosine_betas, "published": published_betas}


def betas(schedule: str, steps: int) -> np.ndarray:
    check_schedule(schedule)
    return _BETAS[schedule](steps)


def alphas_cumprod(schedule: str, steps: int) -> np.ndarray:
    """alpha_bar_t = prod_{s <= t} (1 - beta_s), t = 0 .. steps - 1."""
    return np.cumprod(1.0 - betas(schedule, steps))


def timesteps(steps: int, sample_steps: int | None = None) -> np.ndarray:
    """The time steps diffusers' ``set_timesteps(sample_steps)`` gives with trailing spacing, noisiest first:
    round(arange(steps, 0, -steps / sample_steps)) - 1, so the first is always steps - 1.

    For some pairs (steps=17, sample_steps=7; steps=50, sample_steps=29; ...) the float ``arange`` yields one
    element too many and diffusers ends on time step -1, which then indexes alpha_bar[-1] (the noisiest): its
    last update is garbage. That is refused here rather than copied.
    """
    problem = sample_steps_problem(steps, sample_steps)
    if problem:
        raise MemgenError(f"sample_steps: {problem}")
    return _trailing(steps, steps if sample_steps is None else sample_steps)


def _trailing(steps: int, sample_steps: int) -> np.ndarray:
    return np.round(np.arange(steps, 0, -steps / sample_steps)).astype(np.int64) - 1


def sample_steps_problem(steps: int, sample_steps: int | None) -> str | None:
    """Why ``sample_steps`` cannot sample a ``steps``-step schedule (None: it can): out of range, or one of the
    pairs where diffusers' trailing spacing ends on time step -1. A config checks its cells with this before
    any work, the U-Net's too (diffusers itself does not refuse those pairs)."""
    if sample_steps is None:
        return None
    if not 1 <= sample_steps <= steps:
        return f"must be between 1 and steps = {steps} (got {sample_steps})"
    ts = _trailing(steps, sample_steps)
    if len(ts) != sample_steps:
        return (f"diffusers' trailing spacing gives {len(ts)} time steps, ending at {ts[-1]}, for steps = {steps} "
                f"and sample_steps = {sample_steps} (a float rounding quirk); choose another sample_steps")
    return None


# --------------------------------------------------------------------------------------------------------------
# One update


@dataclass(frozen=True)
class Step:
    """One sampler update from time step t to prev_t (-1: the data), with their alpha_bar (1 at prev_t = -1)."""

    t: int
    prev_t: int
    alpha_bar: float
    alpha_bar_prev: float


def plan(schedule: str, steps: int, sampler: str, sample_steps: int | None = None) -> list[Step]:
    """The updates of a sampling run, in order.

    DDPM goes from each time step to the next one of ``timesteps`` (diffusers' ``previous_timestep``). DDIM
    goes to t - steps // sample_steps, as diffusers' DDIM does, which is not the next time step when
    sample_steps does not divide steps (steps=10, sample_steps=3: time steps 9, 6, 2; DDIM's targets 6, 3, -1).
    """
    check_sampler(sampler)
    abar = alphas_cumprod(schedule, steps)
    ts = timesteps(steps, sample_steps)
    if sampler == "ddpm":
        prevs = np.concatenate([ts[1:], [-1]])
    else:
        prevs = ts - steps // len(ts)
    return [Step(int(t), int(p), float(abar[t]), float(abar[p]) if p >= 0 else 1.0) for t, p in zip(ts, prevs)]


def x0_from_eps(x: np.ndarray, eps: np.ndarray, alpha_bar: float) -> np.ndarray:
    """The x0 estimate of an epsilon prediction (diffusers' order of operations)."""
    return (x - (1 - alpha_bar) ** 0.5 * eps) / alpha_bar**0.5


def eps_from_x0(x: np.ndarray, x0: np.ndarray, alpha_bar: float) -> np.ndarray:
    """The epsilon an x0 prediction implies: (x_t - sqrt(alpha_bar) x0) / sqrt(1 - alpha_bar)."""
    return (x - alpha_bar**0.5 * x0) / (1 - alpha_bar) ** 0.5


def ddpm_variance(step: Step) -> float:
    """The posterior variance of x_prev given x_t and x0 ("fixed_small"), between the two time steps actually
    visited: (1 - abar_prev) / (1 - abar_t) · (1 - abar_t / abar_prev), floored at 1e-20 as diffusers does
    (so the last update, to prev_t = -1, has variance 1e-20, not 0)."""
    current_beta = 1 - step.alpha_bar / step.alpha_bar_prev
    return max((1 - step.alpha_bar_prev) / (1 - step.alpha_bar) * current_beta, VARIANCE_FLOOR)


def ddpm_step(x: np.ndarray, x0: np.ndarray, step: Step, noise: np.ndarray | None = None) -> np.ndarray:
    """One DDPM update from an x0 prediction: the posterior mean of x_prev plus sqrt(variance) · noise.

    As diffusers, noise is added when t > 0 (at t = 0 ``noise`` may be None). An epsilon model passes
    ``x0_from_eps(x, eps, step.alpha_bar)``: this is then diffusers' step with clip_sample=False.
    """
    abar_t, abar_prev = step.alpha_bar, step.alpha_bar_prev
    current_alpha = abar_t / abar_prev
    current_beta = 1 - current_alpha
    x0_coeff = abar_prev**0.5 * current_beta / (1 - abar_t)
    x_coeff = current_alpha**0.5 * (1 - abar_prev) / (1 - abar_t)
    prev = x0_coeff * x0 + x_coeff * x
    if step.t > 0:
        if noise is None:
            raise ValueError(f"ddpm_step: time step {step.t} > 0 needs noise")
        prev = prev + ddpm_variance(step) ** 0.5 * noise
    return prev


def ddim_step(x: np.ndarray, x0: np.ndarray, step: Step, eps: np.ndarray | None = None) -> np.ndarray:
    """One deterministic DDIM update (eta = 0): sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps.

    eps defaults to the one x0 implies (``eps_from_x0``); an epsilon model passes its own eps and
    ``x0_from_eps`` of it, which is diffusers' step exactly.
    """
    if eps is None:
        eps = eps_from_x0(x, x0, step.alpha_bar)
    return step.alpha_bar_prev**0.5 * x0 + (1 - step.alpha_bar_prev) ** 0.5 * eps


Denoiser = Callable[[np.ndarray, float], np.ndarray]  # (x_t of shape (count, *shape), alpha_bar_t) -> x0


# --------------------------------------------------------------------------------------------------------------
# The probability-flow ODE (sampler "euler")
#
# The σ-CFDM reference code (Scarvelis, Borde & Solomon; its sampling script's ``sampling_loop``, "sampling
# algorithm (7)") writes the process as z_t = t y + (1 - t) eps, t = 0 noise, t = 1 data, and integrates the
# probability-flow ODE dz/dt = v(z, t) = (z + (1 - t) s(z, t)) / t, s the (smoothed) closed-form score, with
# S Euler steps of h = 1/S: for n = 0 .. S - 1, t = n h, z += h v unless t = 0 (v's 1/t; the step is skipped).
# With Tweedie, s = (t D - z) / (1 - t)² for the x0 prediction D (in data units, D = E[y | z]), so
# v = (D - z) / (1 - t) and one step is z += (D - z) / (S - n): the last (n = S - 1) lands on D, as the DDPM and
# DDIM updates to prev_t = -1 do. memgen's x_t = sqrt(abar) y + sqrt(1 - abar) eps is x = c z with
# c = sqrt(abar) + sqrt(1 - abar): at time t, abar = t² / (t² + (1 - t)²) and c = 1 / sqrt(t² + (1 - t)²).
# The steps are the reference's: S = the config's steps, times uniform in t, no noise schedule. The start is
# z ~ N(0, I) (the ODE's start at t = 0; the reference's 2-D script draws N(0, diag std(data)) instead).


def euler_times(steps: int) -> np.ndarray:
    """The times t = n / S, n = 1 .. S - 1, at which the reference's Euler loop evaluates the velocity."""
    if steps < 2:
        raise ValueError(f"euler_times: needs steps >= 2 (got {steps})")
    return np.arange(1, steps) / steps


def euler_alpha_bar(t: float) -> float:
    """alpha_bar of x_t = sqrt(abar) y + sqrt(1 - abar) eps at the reference's time t (z_t = t y + (1 - t) eps)."""
    return t * t / (t * t + (1 - t) ** 2)


def euler_sample(denoise_x0: Denoiser, z: np.ndarray, steps: int) -> np.ndarray:
    """The reference's Euler loop from z (at t = 0, model scale) to t = 1: S - 1 updates, S = ``steps``.

    Each update asks the x0 model at x = c z (memgen's units) and moves z by (D - z) h / (1 - t), written
    h / (1 - t) = 1 / (S - n) so that the last step's factor is exactly 1."""
    z = np.array(z, dtype=np.float64)
    for n, t in enumerate(euler_times(steps), start=1):
        scale = 1.0 / math.sqrt(t * t + (1 - t) ** 2)  # c: x = c z
        x0 = np.asarray(denoise_x0(scale * z, euler_alpha_bar(float(t))), dtype=np.float64)
        if x0.shape != z.shape:
            raise ValueError(f"sample: the denoiser returned shape {x0.shape} for input {z.shape}")
        z += (x0 - z) / (steps - n)
    return z


# --------------------------------------------------------------------------------------------------------------
# Sampling


def sample(denoise_x0: Denoiser, count: int, shape: tuple[int, ...], schedule: str, steps: int, sampler: str,
           sample_steps: int | None, rng: np.random.Generator) -> np.ndarray:
    """``count`` samples of ``shape`` from N(0, I) through the sampler; returns (count, *shape) in model scale.

    ``denoise_x0(x_t, alpha_bar_t)`` predicts x0 for the whole batch. Random draws, in order: the start, then
    for DDPM one standard normal array per update with t > 0; so a seed gives the same samples.
    The x0 prediction goes into the update directly: diffusers would turn it into epsilon and back, which is
    the same up to rounding (and loses digits where alpha_bar is near 0).
    "euler" (x0 models only) is the reference's probability-flow ODE loop above: ``steps`` is its S, the
    schedule does not apply, and it takes no ``sample_steps``.
    """
    check_sampler(sampler, X0_SAMPLERS)
    if sampler in ODE_SAMPLERS:
        if sample_steps is not None:
            raise ValueError("sample: the euler sampler takes its steps from steps, not sample_steps")
        return euler_sample(denoise_x0, rng.standard_normal((count, *shape)), steps)
    updates = plan(schedule, steps, sampler, sample_steps)
    x = rng.standard_normal((count, *shape))
    for step in updates:
        x0 = np.asarray(denoise_x0(x, step.alpha_bar), dtype=np.float64)
        if x0.shape != x.shape:
            raise ValueError(f"sample: the denoiser returned shape {x0.shape} for input {x.shape}")
        if sampler == "ddpm":
            x = ddpm_step(x, x0, step, rng.standard_normal(x.shape) if step.t > 0 else None)
        else:
            x = ddim_step(x, x0, step)
    return x
