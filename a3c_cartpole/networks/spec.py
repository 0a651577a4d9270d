"""Which network reads an env's observations, written down once.

A run's network follows from what the env observes -- a flat vector gets the tutorial's MLP, an
image (height, width, channels) a convolutional torso -- and from a few settings. This spec is what
the master builds, what a checkpoint and the run record store, and what a saved run is rebuilt
from, so those places cannot disagree. It needs neither TensorFlow nor numpy's forward pass: the
command line settles it before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from a3c_cartpole.config import ConfigError

if TYPE_CHECKING:
    from a3c_cartpole.config import TrainConfig
    from a3c_cartpole.envs.spec import EnvInfo


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """One 'valid' convolution with relu: filters, square kernel size, stride."""

    filters: int
    kernel: int
    stride: int


TORSOS: dict[str, tuple[tuple[ConvLayer, ...], int]] = {
    # MinAtar's own network (Young & Tian 2019): one small convolution, for 10x10 grids.
    "minatar": ((ConvLayer(16, 3, 1),), 128),
    # The Nature-DQN torso (Mnih et al. 2015), as the A3C paper's larger net and SB3's NatureCNN use it.
    "nature": ((ConvLayer(32, 8, 4), ConvLayer(64, 4, 2), ConvLayer(64, 3, 1)), 512),
}
"""Convolutions, then the width of the dense layer both heads read."""

NATURE_MIN_SIDE = 36
"""The Nature torso's three strided convolutions need an image of at least 36x36 (SB3 asks the same)."""


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """The shape of an actor-critic network: everything needed to build it again."""

    kind: str
    """"mlp", or a torso of TORSOS ("minatar", "nature")."""
    obs_shape: tuple[int, ...]
    n_actions: int
    hidden: int = 100
    """MLP: units per hidden layer (a conv torso's dense width is the torso's own)."""
    layers: int = 1
    activation: str = "relu"
    normalize_obs: bool = False
    input_scale: float = 1.0
    """Multiplies the observation as the network reads it: 1/255 for 8-bit pixels."""
    obs_dtype: str = "float32"
    """What it is fed: images come as uint8, and become floats inside the network."""

    @property
    def is_conv(self) -> bool:
        return self.kind != "mlp"

    @property
    def channels_first(self) -> bool:
        """Images come (H, W, C) from most envs and (C, H, W) from a frame stack: channels are the short axis."""
        return self.is_conv and self.obs_shape[0] < self.obs_shape[-1]

    @property
    def convolutions(self) -> tuple[ConvLayer, ...]:
        return TORSOS[self.kind][0] if self.is_conv else ()

    @property
    def dense_units(self) -> int:
        return TORSOS[self.kind][1] if self.is_conv else self.hidden

    def describe(self) -> str:
        """The network in a few words, for the banner and for error messages."""
        if not self.is_conv:
            return f"MLP {self.layers} x {self.hidden} {self.activation} per head" if self.layers else "linear heads"
        convs = ", ".join(f"{c.filters} {c.kernel}x{c.kernel}/{c.stride}" for c in self.convolutions)
        return f"CNN ({self.kind}: conv {convs}, dense {self.dense_units})"

    def as_record(self) -> dict[str, Any]:
        """JSON-ready, for the run record and checkpoints."""
        return {**dataclasses.asdict(self), "obs_shape": list(self.obs_shape)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> NetworkSpec:
        known = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in record.items() if key in known}
        return cls(**{**values, "obs_shape": tuple(values["obs_shape"])})


def observation_words(shape: tuple[int, ...]) -> str:
    """ "16 inputs" or "10x10x4 images": an observation shape in words, for messages."""
    return f"{shape[0]} inputs" if len(shape) == 1 else f"{'x'.join(map(str, shape))} images"


def network_for(config: TrainConfig, info: EnvInfo) -> NetworkSpec:
    """The network of a run: the env's observation and the run's settings."""
    return choose_network(
        config.network,
        info.obs_shape,
        info.n_actions,
        hidden=config.hidden,
        layers=config.layers,
        activation=config.activation,
        normalize_obs=config.normalize_obs,
        clip_per_head=config.clip_per_head,
        pixels=info.pixels,
        obs_dtype=info.obs_dtype,
    )


def choose_network(
    network: str,
    obs_shape: tuple[int, ...],
    n_actions: int,
    *,
    hidden: int = 100,
    layers: int = 1,
    activation: str = "relu",
    normalize_obs: bool = False,
    clip_per_head: bool = False,
    pixels: bool = False,
    obs_dtype: str = "float32",
) -> NetworkSpec:
    """The network `--network` names for this observation; refuses a pairing that cannot work.

    `pixels`: the observation is 8-bit pixels (0-255), read scaled to [0, 1].
    """
    image = len(obs_shape) == 3
    kind = ("cnn" if image else "mlp") if network == "auto" else network
    if kind == "mlp":
        if not image:
            return NetworkSpec("mlp", obs_shape, n_actions, hidden, layers, activation, normalize_obs, 1.0, obs_dtype)
        raise ConfigError(f"--network mlp reads a flat observation; this env observes images {obs_shape}: use cnn")
    if not image:
        raise ConfigError(f"--network cnn reads images (height, width, channels); this env observes {obs_shape}")
    if normalize_obs or clip_per_head:
        flag = "--normalize-obs" if normalize_obs else "--clip-per-head"
        raise ConfigError(f"{flag} applies to the MLP only; a conv net's heads share its torso")
    side = min(obs_shape[1:]) if obs_shape[0] < obs_shape[-1] else min(obs_shape[:2])
    torso = "nature" if side >= NATURE_MIN_SIDE else "minatar"
    return NetworkSpec(torso, obs_shape, n_actions, input_scale=1 / 255 if pixels else 1.0, obs_dtype=obs_dtype)
