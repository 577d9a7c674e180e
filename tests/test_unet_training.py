"""Presets, schedules, training and sampling of the U-Net (tiny sizes: seconds on a CPU)."""

import typing

import numpy as np
import pytest

import diffusers  # noqa: F401  (make test installs the unet extra: a missing one must fail, not skip)
import torch

from memgen_cli.errors import MemgenError
from memgen_cli.imaging import schedules
from memgen_cli.unet import diffusion, models, params

torch.set_num_threads(1)


def final_alpha_bar(scheduler) -> float:
    """alpha_bar at the last step: near 0 means the forward process reaches noise."""
    return float(scheduler.alphas_cumprod[-1])


def epsilon_loss(model, images_pm1: np.ndarray, scheduler, *, seed: int, device: str) -> float:
    """The epsilon loss averaged over every diffusion step with fixed noise: a noise-free before/after measure."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    x0 = torch.as_tensor(images_pm1, dtype=torch.float32).unsqueeze(1)
    total = scheduler.config.num_train_timesteps
    model.to(device).eval()
    losses = []
    for t in range(total):
        noise = torch.randn(x0.shape, generator=gen)
        a = float(scheduler.alphas_cumprod[t])
        noisy = (a**0.5 * x0 + (1 - a) ** 0.5 * noise).to(device)
        steps = torch.full((x0.shape[0],), t, device=device)
        losses.append(torch.nn.functional.mse_loss(model(noisy, steps).sample, noise.to(device)).item())
    return float(np.mean(losses))


def _tiny(seed=0, side=8):
    return diffusion.init_model(lambda: models.build_model("tiny", side), seed)


def test_tiny_preset_loss_falls_in_a_few_steps():
    images = np.random.default_rng(0).normal(0.0, 0.2, (16, 8, 8))
    model, scheduler = _tiny(), diffusion.make_scheduler("logsnr_linear", 10)
    before = epsilon_loss(model, images, scheduler, seed=9, device="cpu")
    losses = diffusion.train(model, images, scheduler, train_steps=40, batch_size=16, lr=1e-3, seed=0,
                             device="cpu")
    after = epsilon_loss(model, images, scheduler, seed=9, device="cpu")
    assert losses.shape == (40,) and np.isfinite(losses).all()
    assert after < 0.6 * before  # same images, same noise, same time steps: only the weights changed
    assert losses[-10:].mean() < losses[:10].mean()


@pytest.mark.parametrize("name,low,high", [("tiny", 0.3e6, 0.7e6), ("small", 2e6, 3.5e6)])
def test_preset_sizes(name, low, high):
    assert low < models.parameter_count(models.build_model(name, 8)) < high


def test_paper_preset_has_attention_and_published_size():
    preset = models.PRESETS["paper"]
    assert "AttnDownBlock2D" in preset.down_block_types
    assert 12.5e6 < models.parameter_count(preset.build(16)) < 13.3e6


@pytest.mark.parametrize("preset,side", [("tiny", 7), ("small", 6), ("paper", 2)])
def test_side_the_preset_cannot_downsample_is_refused(preset, side):
    with pytest.raises(MemgenError, match=r"^side: preset '\w+' downsamples by \d+, so the image side must be"):
        models.check_side(preset, side)
    assert models.side_error(preset, side).endswith(f"(got {side})")


@pytest.mark.parametrize("preset,side", [("tiny", 2), ("tiny", 8), ("small", 4), ("small", 8), ("paper", 16)])
def test_side_the_preset_can_downsample_is_accepted(preset, side):
    assert models.side_error(preset, side) is None
    models.check_side(preset, side)


def test_unknown_names_are_refused():
    # (in a config, device and compute.precision are refused by their Literal types: test_unet_sweep.py)
    with pytest.raises(MemgenError, match=r"^device: unknown device 'tpu' \(choose from auto, cpu, cuda\)"):
        diffusion.resolve_device("tpu")  # simulate's plain string, checked against params.DEVICES
    with pytest.raises(MemgenError, match=r"^preset: "):
        models.get_preset("huge")
    with pytest.raises(MemgenError, match=r"^schedule: "):
        diffusion.make_scheduler("quadratic", 10)
    with pytest.raises(MemgenError, match=r"^sampler: "):
        diffusion.make_scheduler("cosine", 10, "euler")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused_and_auto_falls_back():
    with pytest.raises(MemgenError, match=r"^device: "):
        diffusion.resolve_device("cuda")
    assert diffusion.resolve_device("auto") == "cpu"


def test_schedules_at_ten_steps():
    assert final_alpha_bar(diffusion.make_scheduler("logsnr_linear", 10)) == pytest.approx(1e-3, rel=0.01)
    assert final_alpha_bar(diffusion.make_scheduler("cosine", 10)) < 1e-3
    # The published schedule never reaches noise at 10 steps.
    assert final_alpha_bar(diffusion.make_scheduler("published", 10)) == pytest.approx(0.904, abs=0.01)
    # The names the config accepts (checked without torch) are the schedules and samplers there are.
    assert typing.get_args(schedules.Schedule) == schedules.SCHEDULES == ("logsnr_linear", "cosine", "published")
    assert typing.get_args(schedules.Sampler) == schedules.SAMPLERS == ("ddpm", "ddim")
    assert params.UnetTraining.model_fields["schedule"].annotation is schedules.Schedule
    assert params.UnetConfig.model_fields["sampling"].annotation is schedules.ImageSampling
    for name in schedules.SCHEDULES:
        for sampler in schedules.SAMPLERS:
            assert diffusion.make_scheduler(name, 10, sampler).config.clip_sample is False


@pytest.mark.parametrize("sampler,sample_steps", [("ddpm", None), ("ddim", 5)])
def test_sampling_is_batched_and_seeded(sampler, sample_steps):
    model = _tiny()
    scheduler = diffusion.make_scheduler("logsnr_linear", 10, sampler)
    a = diffusion.sample(model, scheduler, 6, 8, seed=3, device="cpu", sample_steps=sample_steps)
    b = diffusion.sample(model, scheduler, 6, 8, seed=3, device="cpu", sample_steps=sample_steps)
    c = diffusion.sample(model, scheduler, 6, 8, seed=4, device="cpu", sample_steps=sample_steps)
    assert a.shape == (6, 8, 8) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_model_init_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    w1 = next(_tiny(seed=1).parameters()).detach().clone()
    after = torch.rand(1)
    w2 = next(_tiny(seed=1).parameters()).detach().clone()
    w3 = next(_tiny(seed=2).parameters()).detach().clone()
    assert torch.equal(before, after)
    assert torch.equal(w1, w2) and not torch.equal(w1, w3)


def test_epochs_budget_follows_the_papers_data_loader():
    assert params.epochs_budget(20, 10, 128) == (20, 10)  # one batch of all 10 images per epoch
    assert params.epochs_budget(20, 1000, 128) == (157, 128)  # ceil(20 * 1000 / 128)
    cell = {"n": 10, "side": 8, "N": 50, "preset": "tiny", "steps": 10, "epochs": 20, "batch_size": 128}
    p = params.SimulationParams.from_cell(cell)
    assert (p.train_step_count, p.train_batch_size) == (20, 10)  # what a simulation trains with
    p = params.SimulationParams.from_cell({**cell, "epochs": None, "train_steps": 7})
    assert (p.train_step_count, p.train_batch_size) == (7, 128)  # a steps budget: full-size batches


def test_batches_are_full_size_and_balanced():
    gen = torch.Generator().manual_seed(0)
    batches = diffusion._batch_indices(3, 8, gen)
    drawn = torch.cat([next(batches) for _ in range(3)])  # 24 indices = 8 full permutations of 3
    assert drawn.numel() == 24 and torch.bincount(drawn).tolist() == [8, 8, 8]
