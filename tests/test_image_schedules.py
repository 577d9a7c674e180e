"""imaging.schedules (numpy) against the diffusers schedulers the U-Net uses (unet.diffusion.make_scheduler).

diffusers builds its schedule in float32. To compare formulas rather than roundings, ``float64_diffusers``
makes the scheduler modules' ``torch.float32`` mean float64 while a scheduler is built: then alpha_bar, time
steps and every update must agree to ~1e-12 relative. The real float32 schedulers are checked too, to float32
rounding.
"""

import types

import numpy as np
import pytest

import diffusers  # noqa: F401  (make test installs the unet extra: a missing one must fail, not skip)
import torch
from diffusers.schedulers import scheduling_ddim, scheduling_ddpm

from memgen_cli.errors import MemgenError
from memgen_cli.imaging import schedules
from memgen_cli.unet import diffusion

torch.set_num_threads(1)

RTOL = 1e-12
CASES = [(10, 10), (10, 3), (10, 7), (20, 6), (100, 30), (1000, 7)]  # (steps, sample_steps); 3, 7, 6, 30 < steps
ALL = [(s, k, p) for s in schedules.SCHEDULES for k, p in CASES]


class _Float64Torch(types.ModuleType):
    """torch, except that float32 is float64 (for the scheduler modules only)."""

    float32 = torch.float64

    def __getattr__(self, name):
        return getattr(torch, name)


@pytest.fixture
def float64_diffusers(monkeypatch):
    shim = _Float64Torch("torch")
    monkeypatch.setattr(scheduling_ddpm, "torch", shim)
    monkeypatch.setattr(scheduling_ddim, "torch", shim)


def _scheduler(schedule, steps, sampler, sample_steps):
    scheduler = diffusion.make_scheduler(schedule, steps, sampler)
    scheduler.set_timesteps(sample_steps)
    return scheduler


def _state(seed, shape=(3, 1, 4, 4)):
    """A noisy sample and an epsilon prediction, float64 (numpy and torch views of the same numbers)."""
    rng = np.random.default_rng(seed)
    x, eps = rng.standard_normal(shape), rng.standard_normal(shape)
    return x, eps, torch.from_numpy(x.copy()), torch.from_numpy(eps.copy())


@pytest.mark.slow  # starts processes
def test_the_module_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, memgen_cli.imaging.schedules; "
            "print(any(m.split('.')[0] in ('torch', 'diffusers') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# diffusers' own names for the schedules it has (logsnr_linear is memgen's: checked against its definition)
DIFFUSERS_OWN = {"cosine": {"beta_schedule": "squaredcos_cap_v2"},
                 "published": {"beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02}}


def _diffusers_own(schedule, steps, sampler="ddpm"):
    cls = scheduling_ddpm.DDPMScheduler if sampler == "ddpm" else scheduling_ddim.DDIMScheduler
    return cls(num_train_timesteps=steps, **DIFFUSERS_OWN[schedule])


@pytest.mark.parametrize("schedule", schedules.SCHEDULES)
def test_the_unets_schedulers_take_their_betas_from_here(schedule):
    for steps in (1, 2, 10, 1000):
        for sampler in schedules.SAMPLERS:
            scheduler = diffusion.make_scheduler(schedule, steps, sampler)
            ours = torch.tensor(schedules.betas(schedule, steps), dtype=torch.float32)
            assert torch.equal(scheduler.betas, ours)


def test_logsnr_linear_is_its_definition():
    for steps in (2, 10, 1000):
        abar = schedules.alphas_cumprod("logsnr_linear", steps)
        np.testing.assert_allclose(np.log(abar / (1 - abar)), np.linspace(9.21, -6.91, steps), rtol=0, atol=1e-11)


@pytest.mark.parametrize("schedule", sorted(DIFFUSERS_OWN))
@pytest.mark.parametrize("steps", [1, 2, 10, 1000])
def test_alphas_cumprod_equal_float64_diffusers(float64_diffusers, schedule, steps):
    scheduler = _diffusers_own(schedule, steps)
    assert scheduler.alphas_cumprod.dtype == torch.float64  # the shim took effect
    np.testing.assert_allclose(schedules.alphas_cumprod(schedule, steps), scheduler.alphas_cumprod.numpy(),
                               rtol=RTOL, atol=0)
    np.testing.assert_allclose(schedules.betas(schedule, steps), scheduler.betas.numpy(), rtol=RTOL, atol=0)


@pytest.mark.parametrize("schedule", sorted(DIFFUSERS_OWN))
def test_alphas_cumprod_equal_real_diffusers_to_float32(schedule):
    for sampler in schedules.SAMPLERS:
        scheduler = _diffusers_own(schedule, 1000, sampler)
        assert scheduler.alphas_cumprod.dtype == torch.float32
        ours = schedules.alphas_cumprod(schedule, 1000)
        np.testing.assert_allclose(ours, scheduler.alphas_cumprod.double().numpy(), rtol=3e-5)
        # the betas are float32(our float64 betas), up to torch's own linspace
        np.testing.assert_allclose(schedules.betas(schedule, 1000).astype(np.float32), scheduler.betas.numpy(),
                                   rtol=2.5e-7, atol=0)


@pytest.mark.parametrize("schedule", sorted(DIFFUSERS_OWN))
def test_the_unet_at_ten_steps_has_diffusers_own_alpha_bar(schedule):
    """The U-Net now takes these betas; at the 10 steps of every shipped config its float32 alpha_bar (all that
    training and both samplers read) is exactly what diffusers' own schedule gave before."""
    for sampler in schedules.SAMPLERS:
        assert torch.equal(diffusion.make_scheduler(schedule, 10, sampler).alphas_cumprod,
                           _diffusers_own(schedule, 10, sampler).alphas_cumprod)


def test_known_end_points():
    assert schedules.alphas_cumprod("logsnr_linear", 10)[[0, -1]] == pytest.approx([0.9999, 0.001], rel=5e-3)
    assert schedules.alphas_cumprod("cosine", 10)[-1] == pytest.approx(2.4e-5, rel=0.05)
    assert schedules.alphas_cumprod("published", 10)[-1] == pytest.approx(0.904, abs=0.01)


@pytest.mark.parametrize("sampler", schedules.SAMPLERS)
@pytest.mark.parametrize("steps,sample_steps", CASES + [(50, 28), (1000, 1000), (3, 1)])
def test_timesteps_equal_diffusers(sampler, steps, sample_steps):
    scheduler = _scheduler("logsnr_linear", steps, sampler, sample_steps)
    np.testing.assert_array_equal(schedules.timesteps(steps, sample_steps), scheduler.timesteps.numpy())
    assert [s.t for s in schedules.plan("cosine", steps, sampler, sample_steps)] == scheduler.timesteps.tolist()


def test_timesteps_refuse_diffusers_extra_step():
    scheduler = _scheduler("logsnr_linear", 17, "ddpm", 7)
    assert scheduler.timesteps.tolist()[-1] == -1 and len(scheduler.timesteps) == 8  # the quirk refused
    with pytest.raises(MemgenError, match="sample_steps: diffusers' trailing spacing gives 8 time steps"):
        schedules.timesteps(17, 7)
    with pytest.raises(MemgenError, match="between 1 and steps"):
        schedules.timesteps(10, 11)
    with pytest.raises(MemgenError, match="unknown schedule"):
        schedules.betas("quadratic", 10)
    with pytest.raises(MemgenError, match="unknown sampler"):
        schedules.plan("cosine", 10, "euler")


def test_ddim_targets_are_diffusers_not_the_next_timestep():
    updates = schedules.plan("logsnr_linear", 10, "ddim", 3)
    assert [(s.t, s.prev_t) for s in updates] == [(9, 6), (6, 3), (2, -1)]
    assert [(s.t, s.prev_t) for s in schedules.plan("logsnr_linear", 10, "ddpm", 3)] == [(9, 6), (6, 2), (2, -1)]
    assert updates[-1].alpha_bar_prev == 1.0


@pytest.mark.parametrize("schedule,steps,sample_steps", ALL)
def test_ddim_step_equals_diffusers(float64_diffusers, schedule, steps, sample_steps):
    scheduler = _scheduler(schedule, steps, "ddim", sample_steps)
    for i, step in enumerate(schedules.plan(schedule, steps, "ddim", sample_steps)):
        x, eps, xt, epst = _state(i)
        out = scheduler.step(epst, step.t, xt)
        x0 = schedules.x0_from_eps(x, eps, step.alpha_bar)
        np.testing.assert_allclose(x0, out.pred_original_sample.numpy(), rtol=RTOL, atol=0)
        np.testing.assert_allclose(schedules.ddim_step(x, x0, step, eps), out.prev_sample.numpy(), rtol=RTOL,
                                   atol=0)
        # from x0 alone (the closed-form model's path): eps recomputed, equal up to that round trip
        np.testing.assert_allclose(schedules.ddim_step(x, x0, step), out.prev_sample.numpy(), rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("schedule,steps,sample_steps", ALL)
def test_ddpm_step_equals_diffusers(float64_diffusers, schedule, steps, sample_steps):
    scheduler = _scheduler(schedule, steps, "ddpm", sample_steps)
    for i, step in enumerate(schedules.plan(schedule, steps, "ddpm", sample_steps)):
        x, eps, xt, epst = _state(i)
        assert schedules.ddpm_variance(step) == pytest.approx(float(scheduler._get_variance(step.t)), rel=RTOL)
        out = scheduler.step(epst, step.t, xt, generator=torch.Generator().manual_seed(i))
        # the noise diffusers drew: the same generator state, shape and dtype
        noise = torch.randn(xt.shape, generator=torch.Generator().manual_seed(i), dtype=torch.float64).numpy()
        x0 = schedules.x0_from_eps(x, eps, step.alpha_bar)
        ours = schedules.ddpm_step(x, x0, step, noise)
        np.testing.assert_allclose(ours, out.prev_sample.numpy(), rtol=RTOL, atol=1e-14)
        if step.t > 0:  # the noise term is present, and is what makes the match
            assert np.abs(ours - schedules.ddpm_step(x, x0, step, np.zeros_like(noise))).max() > 1e-11


def test_ddpm_last_step_without_noise_is_the_x0_prediction():
    x, eps = np.random.default_rng(0).standard_normal((2, 5, 3))
    last = schedules.plan("logsnr_linear", 10, "ddpm")[-1]
    assert (last.t, last.prev_t) == (0, -1)
    x0 = np.arange(15.0).reshape(5, 3)
    np.testing.assert_allclose(schedules.ddpm_step(x, x0, last), x0, rtol=1e-15)
    with pytest.raises(ValueError, match="needs noise"):
        schedules.ddpm_step(x, x0, schedules.plan("logsnr_linear", 10, "ddpm")[0])


@pytest.mark.parametrize("sampler", schedules.SAMPLERS)
@pytest.mark.parametrize("schedule,steps,sample_steps", [("logsnr_linear", 10, 10), ("cosine", 20, 6),
                                                         ("published", 10, 4), ("logsnr_linear", 10, 3)])
def test_sample_loop_equals_a_diffusers_loop(float64_diffusers, monkeypatch, sampler, schedule, steps, sample_steps):
    """The whole loop with an x0 model (a nonlinear shrinkage), diffusers' DDPM noise drawn from the same numpy
    generator in the same order (its randn_tensor patched), the model's x0 handed to diffusers as epsilon."""
    shape, count = (2, 3), 4

    def denoise(x, alpha_bar):
        return np.tanh(0.7 * alpha_bar**0.5 * x) + 0.1

    ours = schedules.sample(denoise, count, shape, schedule, steps, sampler, sample_steps,
                            np.random.default_rng(5))
    rng = np.random.default_rng(5)
    draws = []

    def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
        draws.append(shape)
        return torch.from_numpy(rng.standard_normal(tuple(shape)))

    monkeypatch.setattr(scheduling_ddpm, "randn_tensor", randn_tensor)
    x = torch.from_numpy(rng.standard_normal((count, *shape)))
    scheduler = _scheduler(schedule, steps, sampler, sample_steps)
    for t in scheduler.timesteps:
        a = float(scheduler.alphas_cumprod[t])
        eps = schedules.eps_from_x0(x.numpy(), denoise(x.numpy(), a), a)
        x = scheduler.step(torch.from_numpy(eps), t, x).prev_sample
    np.testing.assert_allclose(ours, x.numpy(), rtol=1e-9, atol=1e-12)
    assert len(draws) == (sum(int(t) > 0 for t in scheduler.timesteps) if sampler == "ddpm" else 0)
    assert ours.shape == (count, *shape)
