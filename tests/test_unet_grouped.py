"""Simulations trained together (unet/grouped.py) against the same simulations trained one by one
(diffusion.train): in float64, equal losses and weights to 1e-8 relative (issue 13)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tiny import unet_sweep  # noqa: E402
from memgen_cli.unet.diffusion import init_model, make_scheduler, train  # noqa: E402
from memgen_cli.unet.grouped import train_together  # noqa: E402
from memgen_cli.unet.models import get_preset  # noqa: E402

SIDE, STEPS, BATCH = 8, 20, 4


def models(seeds, preset="tiny"):
    return [init_model(lambda: get_preset(preset).build(SIDE), s).double() for s in seeds]


def datasets(sizes):
    rng = np.random.default_rng(0)
    return [rng.uniform(-1, 1, (n, SIDE, SIDE)) for n in sizes]


def assert_same_weights(a, b, rtol=1e-8):
    for (name, x), (_, y) in zip(a.named_parameters(), b.named_parameters()):
        x, y = x.detach(), y.detach()
        scale = x.abs().max().clamp_min(1e-12)
        assert float((x - y).abs().max() / scale) <= rtol, name


@pytest.mark.parametrize("preset", ["tiny", pytest.param("paper", marks=pytest.mark.slow)])  # 12.9 M, float64
def test_three_simulations_together_equal_three_alone(preset):
    seeds, data = [11, 12, 13], datasets([3, 5, 7])  # different data and sizes; batches of 4 from each
    scheduler = make_scheduler("logsnr_linear", 10)
    torch.set_num_threads(1)
    alone = models(seeds, preset)
    steps = STEPS if preset == "tiny" else 3  # the 12.9 M preset (attention): a few steps suffice
    expected = np.stack([train(m, d, scheduler, train_steps=steps, batch_size=BATCH, lr=1e-3, seed=s, device="cpu",
                               dtype=torch.float64) for m, d, s in zip(alone, data, seeds)])
    together = models(seeds, preset)
    got = train_together(together, data, scheduler, train_steps=steps, batch_size=BATCH, lr=1e-3, seeds=seeds,
                         device="cpu", dtype=torch.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    for a, b in zip(alone, together):
        assert_same_weights(a, b)
    # and the simulations really differ from one another (own seeds, own data)
    assert len({round(float(x), 6) for x in got[:, -1]}) == 3


def test_checkpoints_see_every_models_weights_so_far():
    seeds, data = [1, 2], datasets([4, 4])
    seen = []

    def checkpoint(step, losses, trained):
        seen.append((step, losses.shape, [float(next(m.parameters()).detach().sum()) for m in trained]))

    ms = models(seeds)
    train_together(ms, data, make_scheduler("logsnr_linear", 10), train_steps=7, batch_size=BATCH, lr=1e-3,
                   seeds=seeds, device="cpu", dtype=torch.float64, every=3, checkpoint=checkpoint)
    assert [(s, shape) for s, shape, _ in seen] == [(3, (2, 3)), (6, (2, 6))]
    assert seen[0][2] != seen[1][2]  # the modules were updated between checkpoints
    final = [float(next(m.parameters()).detach().sum()) for m in ms]
    assert final != seen[1][2]


def test_bf16_autocast_trains_on_cpu_close_to_fp32():
    data = datasets([6])
    scheduler = make_scheduler("logsnr_linear", 10)
    fp32 = train(init_model(lambda: get_preset("tiny").build(SIDE), 5), data[0], scheduler, train_steps=5,
                 batch_size=BATCH, lr=1e-3, seed=5, device="cpu")
    bf16 = train(init_model(lambda: get_preset("tiny").build(SIDE), 5), data[0], scheduler, train_steps=5,
                 batch_size=BATCH, lr=1e-3, seed=5, device="cpu", precision="bf16")
    assert np.isfinite(bf16).all() and not np.array_equal(bf16, fp32)
    np.testing.assert_allclose(bf16, fp32, rtol=0.05)  # bf16 keeps 8 bits of mantissa


TINY_SWEEP = unet_sweep(simulations=3, train_steps=4)


@pytest.mark.slow  # a U-Net sweep end to end (the grouping itself: the [tiny] test above)
def test_a_sweep_trains_a_cells_simulations_together(tmp_path):
    from memgen_cli.runner.plan import plan_tasks
    from memgen_cli.runner.registry import get_experiment
    from memgen_cli.runner.sweep import load_sweep_config, run_sweep

    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SWEEP)
    alone = load_sweep_config(path, model="unet")
    together = load_sweep_config(path, ["compute.together=3"], model="unet")
    assert alone.simulations_together() == 1 and together.simulations_together() == 3
    assert [len(t.trials) for t in plan_tasks(get_experiment("unet"), together)] == [3, 3]
    a = run_sweep(alone, tmp_path / "alone", executor="serial").trials
    b = run_sweep(together, tmp_path / "together", executor="serial").trials
    assert (b["trained_together"] == 3).all() and "trained_together" not in a.columns
    assert a["seed"].tolist() == b["seed"].tolist() and a["cell_id"].tolist() == b["cell_id"].tolist()
    # float32: the same simulations up to rounding (vmapped kernels sum in another order)
    np.testing.assert_allclose(b["final_loss"], a["final_loss"], rtol=1e-4)
    assert (tmp_path / "together" / "config.yaml").read_text().count("together: 3") == 1
    assert "compute" not in (tmp_path / "alone" / "config.yaml").read_text()  # default: as before it existed


def test_device_cuda_trains_a_cells_simulations_together_by_default(tmp_path):
    from memgen_cli.unet.params import MAX_TOGETHER, UnetConfig

    assert UnetConfig(device="cuda", simulations=20).simulations_together() == 20
    assert UnetConfig(device="cuda", simulations=100).simulations_together() == MAX_TOGETHER
    assert UnetConfig(device="auto", simulations=20).simulations_together() == 1
    assert UnetConfig(device="cuda", simulations=20, compute={"together": 1}).simulations_together() == 1
