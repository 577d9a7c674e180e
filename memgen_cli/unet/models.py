"""U-Net presets: a name -> constructor registry of diffusers ``UNet2DModel`` (1 or 3 channels)."""

from __future__ import annotations

from dataclasses import dataclass

from memgen_cli.errors import MemgenError


@dataclass(frozen=True)
class Preset:
    """Architecture of one preset; ``build(side)`` makes a fresh model for side x side images."""

    block_out_channels: tuple[int, ...]
    layers_per_block: int
    down_block_types: tuple[str, ...]
    up_block_types: tuple[str, ...]
    norm_num_groups: int
    about: str

    @property
    def downsamplings(self) -> int:
        return len(self.block_out_channels) - 1  # the last down block does not downsample

    def build(self, side: int, channels: int = 1):
        from diffusers import UNet2DModel

        return UNet2DModel(sample_size=side, in_channels=channels, out_channels=channels,
                           block_out_channels=self.block_out_channels, layers_per_block=self.layers_per_block,
                           down_block_types=self.down_block_types, up_block_types=self.up_block_types,
                           norm_num_groups=self.norm_num_groups)


PRESETS: dict[str, Preset] = {
    # ~0.43 M parameters: the CPU default.
    "tiny": Preset((32, 48), 1, ("DownBlock2D", "DownBlock2D"), ("UpBlock2D", "UpBlock2D"), 16,
                   "0.43 M parameters, 2 levels, no attention"),
    # ~2.5 M parameters.
    "small": Preset((32, 64, 128), 1, ("DownBlock2D",) * 3, ("UpBlock2D",) * 3, 16,
                    "2.5 M parameters, 3 levels, no attention"),
    # ~12.9 M parameters with attention at the lowest resolution, like the published model.
    "paper": Preset((128, 128, 256), 1, ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                    ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), 32,
                    "12.9 M parameters, 3 levels, attention at the lowest resolution (as published)"),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise MemgenError(f"preset: unknown U-Net preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name]


def side_error(preset_name: str, side: int) -> str | None:
    """Why the preset cannot downsample side x side images to an integer grid; None when it can."""
    factor = 2 ** get_preset(preset_name).downsamplings
    if side < factor or side % factor:
        return (f"preset {preset_name!r} downsamples by {factor}, so the image side must be a multiple of "
                f"{factor} (got {side})")
    return None


def check_side(preset_name: str, side: int) -> None:
    why = side_error(preset_name, side)
    if why:
        raise MemgenError(f"side: {why}")


def build_model(preset_name: str, side: int):
    check_side(preset_name, side)
    return get_preset(preset_name).build(side)


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

