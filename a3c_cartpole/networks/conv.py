"""The actor-critic for image observations: a convolutional torso that both heads read.

Games from pixels need the state's spatial layout; a flat MLP would have to learn it from scratch
for every position. The torso is MinAtar's (one 3x3 convolution) for small grids or the Nature-DQN
one for 84x84 frames (networks/spec.py picks); a dense layer follows, and the policy logits and the
value read it, as in the A3C paper's Atari agent.

Observations arrive compact (uint8 pixels or 0/1 grids) and become floats inside the network only,
so rollouts and the pipes between processes carry a quarter of the bytes. Weights start orthogonal,
as the MLP's: gain sqrt(2) in the torso, 0.01 at the logits, 1 at the value.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from a3c_cartpole.networks.acting_copy import NumpyConvActorCritic
from a3c_cartpole.networks.actor_critic import ActingCopies
from a3c_cartpole.networks.spec import NetworkSpec


class ConvActorCritic(ActingCopies, keras.Model):
    """Policy logits and state value for a batch of images."""

    def __init__(self, spec: NetworkSpec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        relu_init = keras.initializers.Orthogonal(gain=math.sqrt(2))
        # One attribute per layer (tf.train.Checkpoint tracks attributes, not Keras layer lists).
        for i, conv in enumerate(spec.convolutions):
            layer = keras.layers.Conv2D(
                conv.filters, conv.kernel, strides=conv.stride, activation="relu", kernel_initializer=relu_init
            )
            setattr(self, f"conv_{i + 1}", layer)
        self.torso_dense = keras.layers.Dense(spec.dense_units, activation="relu", kernel_initializer=relu_init)
        self.policy_logits = keras.layers.Dense(
            spec.n_actions, kernel_initializer=keras.initializers.Orthogonal(gain=0.01), name="policy_logits"
        )
        self.value_out = keras.layers.Dense(1, kernel_initializer=keras.initializers.Orthogonal(gain=1.0), name="value")

    def conv_layers(self) -> list[keras.layers.Conv2D]:
        return [getattr(self, f"conv_{i + 1}") for i in range(len(self.spec.convolutions))]

    def layers_in_order(self) -> list[keras.layers.Layer]:
        """Every layer with weights, input side first: the order of `ordered_variables`."""
        return [*self.conv_layers(), self.torso_dense, self.policy_logits, self.value_out]

    def build(self, input_shape) -> None:
        """Create every layer's variables from the input's shape, without a forward pass."""
        shape = (input_shape[0], *_channels_last(self.spec, tuple(input_shape[1:])))
        for conv in self.conv_layers():
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        flat = (shape[0], math.prod(shape[1:]))
        self.torso_dense.build(flat)
        features = self.torso_dense.compute_output_shape(flat)
        self.policy_logits.build(features)
        self.value_out.build(features)
        self.built = True

    def call(self, states):
        x = keras.ops.cast(states, "float32")
        if self.spec.input_scale != 1.0:
            x = x * self.spec.input_scale
        if self.spec.channels_first:
            x = keras.ops.transpose(x, (0, 2, 3, 1))
        for conv in self.conv_layers():
            x = conv(x)
        features = self.torso_dense(keras.ops.reshape(x, (keras.ops.shape(x)[0], -1)))
        return self.policy_logits(features), keras.ops.squeeze(self.value_out(features), axis=-1)

    def ordered_variables(self) -> list:
        """Kernel and bias of each layer, input side first: the order `NumpyConvActorCritic` expects."""
        return [v for layer in self.layers_in_order() for v in (layer.kernel, layer.bias)]

    def acting_copy(self, arrays) -> NumpyConvActorCritic:
        return NumpyConvActorCritic(tuple(np.asarray(a) for a in arrays), self.spec)


def _channels_last(spec: NetworkSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[1], shape[2], shape[0]) if spec.channels_first else shape
