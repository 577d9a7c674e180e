"""Several simulations of one cell trained at once: one vmapped forward and backward step for all of them.

At small n a batch holds only a few images and a GPU idles; S simulations stacked along a new leading axis
(``torch.func.stack_module_state``) keep it busy. Each simulation keeps its own weights, data, random
stream (batches, noise, time steps: drawn exactly as ``diffusion.train`` draws them) and Adam state (Adam is
elementwise, so one Adam over the stacked tensors is S Adams). The sum of the S losses has, for each
simulation's weights, the gradient of that simulation's own loss. So the group gives S separate runs' numbers
up to floating-point rounding (tests/test_unet_grouped.py: float64, equal to 1e-8).

torch.func cannot vmap torch's fused GroupNorm ("querying is_contiguous inside of vmap"), so the
functional copy of the model uses the same normalisation written out (``_GroupNorm``). Attention runs through
scaled_dot_product_attention, which has no batching rule on CPU: torch falls back to a loop there.
"""

from __future__ import annotations

import copy

import numpy as np
import torch


class _GroupNorm(torch.nn.GroupNorm):
    """torch.nn.GroupNorm's arithmetic in plain tensor operations, which vmap can batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        groups = x.reshape(shape[0], self.num_groups, -1)
        mean = groups.mean(dim=2, keepdim=True)
        var = groups.var(dim=2, keepdim=True, unbiased=False)
        x = ((groups - mean) / torch.sqrt(var + self.eps)).reshape(shape)
        if self.affine:
            view = (1, -1) + (1,) * (len(shape) - 2)
            x = x * self.weight.reshape(view) + self.bias.reshape(view)
        return x


def _functional_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A weightless copy of the architecture (on the meta device) whose GroupNorms vmap can batch."""
    base = copy.deepcopy(model).to("meta")
    for module in base.modules():
        if type(module) is torch.nn.GroupNorm:
            module.__class__ = _GroupNorm
    return base


class ModelGroup:
    """S models of one architecture as stacked tensors; ``unstack()`` writes them back into the S modules."""

    def __init__(self, models: list[torch.nn.Module], device: str):
        from torch.func import stack_module_state

        self.models = [m.to(device) for m in models]
        params, self.buffers = stack_module_state(self.models)
        # stack_module_state returns fresh leaves that require grad: these are what the optimizer updates.
        self.params = params
        self.base = _functional_copy(self.models[0])

    def __len__(self) -> int:
        return len(self.models)

    def forward(self, noisy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """noisy (S, B, C, H, W), t (S, B) -> predicted noise (S, B, C, H, W), each by its own model."""
        from torch.func import functional_call, vmap

        def one(params, buffers, x, steps):
            return functional_call(self.base, (params, buffers), (x, steps)).sample

        return vmap(one)(self.params, self.buffers, noisy, t)

    @torch.no_grad()
    def unstack(self) -> list[torch.nn.Module]:
        """The S modules with the group's current weights (to sample from them one by one)."""
        for s, model in enumerate(self.models):
            for name, tensor in model.named_parameters():
                tensor.copy_(self.params[name][s])
        return self.models


def train_together(models: list[torch.nn.Module], datasets_pm1: list[np.ndarray], scheduler, *, train_steps: int,
                   batch_size: int, lr: float, seeds: list[int], device: str, precision: str = "fp32",
                   dtype: torch.dtype = torch.float32, every: int | None = None, checkpoint=None) -> np.ndarray:
    """``diffusion.train`` for S models at once: returns the (S, train_steps) losses; the models end trained.

    Each simulation s draws its batches, noise and time steps from its own generator seeded by seeds[s]
    through ``diffusion.draw_step``, so its numbers are those of a run alone. With ``every``, after every
    every-th step before the last, ``checkpoint(step, losses so far (S, step), models)`` runs. TF32 and bf16
    autocast as in ``diffusion.train``; no channels-last (the stacked tensors are 5-D) and no compile.
    """
    from .diffusion import _batch_indices, _generator, autocast, draw_step, prepare_device, to_nchw

    if not (len(models) == len(datasets_pm1) == len(seeds)):
        raise ValueError("train_together: one dataset and one seed per model")
    gens = [_generator(seed) for seed in seeds]
    data = [to_nchw(images).to(dtype) for images in datasets_pm1]
    batches = [_batch_indices(d.shape[0], batch_size, g) for d, g in zip(data, gens)]
    alphas_cumprod = scheduler.alphas_cumprod.to(device=device, dtype=dtype)
    total = scheduler.config.num_train_timesteps
    prepare_device(device)
    group = ModelGroup([(m if next(m.parameters()).dtype == dtype else m.to(dtype)).train() for m in models], device)
    optimizer = torch.optim.Adam(list(group.params.values()), lr=lr)
    losses = np.empty((len(models), train_steps))
    for step in range(train_steps):
        draws = [draw_step(d, b, g, total, dtype) for d, b, g in zip(data, batches, gens)]
        x0, noise, t = (torch.stack(v).to(device) for v in zip(*draws))
        a = alphas_cumprod[t].view(*t.shape, 1, 1, 1)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with autocast(device, precision):
            predicted = group.forward(noisy, t).to(noise.dtype)
        per_model = ((predicted - noise) ** 2).flatten(1).mean(dim=1)
        optimizer.zero_grad(set_to_none=True)
        per_model.sum().backward()
        optimizer.step()
        losses[:, step] = per_model.detach().cpu().numpy()
        if every and checkpoint is not None and (step + 1) % every == 0 and step + 1 < train_steps:
            checkpoint(step + 1, losses[:, :step + 1], group.unstack())
    group.unstack()
    return losses
