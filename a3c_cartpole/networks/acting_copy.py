"""The actor-critic's forward pass in numpy, on a frozen copy of the weights.

Workers act with it (a TensorFlow call costs ~0.15 ms even compiled, this ~0.01 ms), and the
solved check runs it in a process of its own, which therefore never imports TensorFlow: this
module needs numpy alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from a3c_cartpole.networks.spec import NetworkSpec

NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
}
"""The numpy twin of each Keras activation that config.ACTIVATIONS allows."""

# As SB3's VecNormalize: a floor under the variance, and normalised observations clipped to +-10.
NORMALIZER_EPSILON = 1e-8
NORMALIZER_CLIP = 10.0


class ActingPolicy:
    """Acting from logits: what the workers, the solved check and --play ask of any acting copy."""

    def logits(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """argmax of the policy: what --play and the solved check use."""
        return self.logits(obs).argmax(axis=1)

    def sample(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw one action per row from softmax(logits) (Gumbel-max: no normalisation needed)."""
        logits = self.logits(obs)
        return (logits + rng.gumbel(size=logits.shape)).argmax(axis=1)


class NumpyActorCritic(ActingPolicy):
    """The same forward pass as `model.ActorCriticModel`, on a frozen copy of its weights.

    The arrays are (kernel, bias) of each layer of the policy head, then of the value head; both
    heads have the same number of layers, so the first half of them is the policy's. With
    `normalize_obs` three more follow: the observations' mean, variance and count. The activation
    and the normalizer's presence are not in the arrays, so they travel with them by name.
    """

    def __init__(self, arrays: tuple[np.ndarray, ...], activation: str = "relu", normalize_obs: bool = False) -> None:
        self._arrays = tuple(arrays)
        self.activation = activation
        self.normalize_obs = normalize_obs
        self._activate = NUMPY_ACTIVATIONS[activation]
        layers = self._arrays[:-3] if normalize_obs else self._arrays
        half = len(layers) // 2
        self._policy = _layer_pairs(layers[:half])
        self._value = _layer_pairs(layers[half:])
        self._scale = None
        if normalize_obs:
            mean, variance, _ = self._arrays[-3:]
            self._scale = (mean, np.sqrt(variance + NORMALIZER_EPSILON))

    def __reduce__(self):
        """Pickle the arrays and their names only (the activation function itself may be a lambda)."""
        return (NumpyActorCritic, (self._arrays, self.activation, self.normalize_obs))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The weights in `ActorCriticModel.ordered_variables` order, for loading or saving elsewhere."""
        return self._arrays

    @property
    def hidden(self) -> int:
        """Units per hidden layer, read off the weights (a saved network carries its own shape); 0 without one."""
        return self._policy[0][0].shape[1] if self.layers else 0

    @property
    def layers(self) -> int:
        """Hidden layers per head."""
        return len(self._policy) - 1

    def logits(self, obs: np.ndarray) -> np.ndarray:
        return self._mlp(self._policy, obs)

    def values(self, obs: np.ndarray) -> np.ndarray:
        return self._mlp(self._value, obs)[:, 0]

    def _mlp(self, layers: tuple[tuple[np.ndarray, np.ndarray], ...], x: np.ndarray) -> np.ndarray:
        """Normalised observations (if so trained), activated hidden layers, then a linear output layer."""
        if self._scale is not None:
            mean, std = self._scale
            x = np.clip((x - mean) / std, -NORMALIZER_CLIP, NORMALIZER_CLIP)
        for kernel, bias in layers[:-1]:
            x = self._activate(x @ kernel + bias)
        kernel, bias = layers[-1]
        return x @ kernel + bias

    @property
    def spec(self) -> NetworkSpec:
        """The network these weights fill, read off their shapes (a saved network carries its own)."""
        return NetworkSpec(
            "mlp",
            (self._policy[0][0].shape[0],),
            self._policy[-1][0].shape[1],
            self.hidden,
            self.layers,
            self.activation,
            self.normalize_obs,
        )


class NumpyConvActorCritic(ActingPolicy):
    """The same forward pass as `conv.ConvActorCritic`, on a frozen copy of its weights.

    Convolutions are matrix products over each image's windows (numpy's sliding_window_view, then
    one tensordot a layer): on MinAtar's 10x10 grids a batch of 8 costs ~0.1 ms, so workers and the
    solved check act without TensorFlow, as with the MLP.
    """

    def __init__(self, arrays: tuple[np.ndarray, ...], spec: NetworkSpec) -> None:
        self._arrays = tuple(arrays)
        self.spec = spec
        pairs = _layer_pairs(self._arrays)
        n_convs = len(spec.convolutions)
        self._convs = tuple(zip(spec.convolutions, pairs[:n_convs], strict=True))
        self._dense, self._policy, self._value = pairs[n_convs:]

    def __reduce__(self):
        return (NumpyConvActorCritic, (self._arrays, self.spec))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self._arrays

    def features(self, obs: np.ndarray) -> np.ndarray:
        """The torso's output for a batch of observations in the env's own layout and dtype."""
        x = np.asarray(obs, dtype=np.float32)
        if self.spec.input_scale != 1.0:
            x = x * np.float32(self.spec.input_scale)
        if self.spec.channels_first:
            x = x.transpose(0, 2, 3, 1)
        for conv, (kernel, bias) in self._convs:
            windows = sliding_window_view(x, (conv.kernel, conv.kernel), axis=(1, 2))[:, :: conv.stride, :: conv.stride]
            # windows: [B, H', W', C, kh, kw]; Keras kernels: [kh, kw, C, filters]
            x = np.maximum(np.tensordot(windows, kernel, axes=([4, 5, 3], [0, 1, 2])) + bias, 0.0)
        kernel, bias = self._dense
        return np.maximum(x.reshape(len(x), -1) @ kernel + bias, 0.0)

    def logits(self, obs: np.ndarray) -> np.ndarray:
        kernel, bias = self._policy
        return self.features(obs) @ kernel + bias

    def values(self, obs: np.ndarray) -> np.ndarray:
        kernel, bias = self._value
        return (self.features(obs) @ kernel + bias)[:, 0]


def flatten(arrays) -> np.ndarray:
    """Concatenate arrays (or tensors) into one flat float32 array: how weights and gradients travel
    between processes, as one buffer instead of one per variable."""
    return np.concatenate([np.ravel(a) for a in arrays]).astype(np.float32, copy=False)


def unflatten(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The inverse of `flatten`, as views of `flat`."""
    parts, start = [], 0
    for shape in shapes:
        end = start + math.prod(shape)
        parts.append(flat[start:end].reshape(shape))
        start = end
    return parts


def _layer_pairs(arrays: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(kernel, bias) of each layer from the flat kernel, bias, kernel, bias, ... sequence."""
    return tuple(zip(arrays[::2], arrays[1::2], strict=True))
