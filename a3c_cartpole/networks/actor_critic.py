"""The actor-critic network, and a numpy copy of it that acts without calling TensorFlow.

The network is the tutorial's: two heads that both read the state, a policy head
Dense(hidden, relu) -> logits and a value head Dense(hidden, relu) -> 1; `layers` stacks more
Dense(hidden) layers in each head, for envs whose policy one layer cannot express, or none (a table
on a one-hot observation), and `activation` may swap relu for tanh. The value comes out with shape
[B], not [B, 1], so every per-step quantity downstream has one shape (SPEC §3, defect 1).

Weights start orthogonal, as SB3 and CleanRL initialise them: gain sqrt(2) in the hidden layers,
1 at the value output, 0.01 at the logits. The small logits make every env start from a
near-uniform policy instead of a random preference, so no action is favoured before anything
is learned (docs/design-notes.md: what it did on LunarLander).

With `normalize_obs` the network first scales each observation by running statistics
(`ObservationNormalizer`); they are non-trainable weights of the model, so the weights file, the
checkpoint and every worker's copy carry them along with the layers.

Acting calls the network once per vector step; a TensorFlow call costs ~0.15 ms even compiled,
the same forward pass in numpy ~0.01 ms. So workers act with `NumpyActorCritic` (acting_copy.py),
a snapshot of the weights taken at each sync, and only the gradient step runs in TensorFlow.
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np

from a3c_cartpole.networks.acting_copy import NORMALIZER_CLIP, NORMALIZER_EPSILON, NumpyActorCritic, unflatten


def batch_moments(batch) -> tuple:
    """Mean and variance over the batch axis, and the batch size as a float."""
    n = keras.ops.cast(keras.ops.shape(batch)[0], "float32")
    return keras.ops.mean(batch, axis=0), keras.ops.var(batch, axis=0), n


class ObservationNormalizer(keras.layers.Layer):
    """(obs - mean) / std, clipped, with mean and variance merged from every batch it absorbs.

    Keras's own Normalization layer computes its statistics once (`adapt`) and replaces them on the
    next call; A3C needs statistics that grow with every worker's rollouts, so this layer merges each
    batch into a running count, mean and variance (Chan et al.'s parallel update). The statistics
    are weights, not trainable ones: the optimizer never sees them, but save and restore do.
    """

    def build(self, input_shape) -> None:
        size = input_shape[-1]
        self.mean = self.add_weight(shape=(size,), initializer="zeros", trainable=False, name="mean")
        self.variance = self.add_weight(shape=(size,), initializer="ones", trainable=False, name="variance")
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, states):
        scaled = (states - self.mean) / keras.ops.sqrt(self.variance + NORMALIZER_EPSILON)
        return keras.ops.clip(scaled, -NORMALIZER_CLIP, NORMALIZER_CLIP)

    def absorb(self, batch) -> None:
        """Merge the statistics of `batch` ([B, obs]) into the running ones."""
        self.absorb_moments(*batch_moments(batch))

    def absorb_moments(self, batch_mean, batch_variance, n) -> None:
        """Merge a batch known by its mean, variance and size (how a Ray actor sends it)."""
        total = self.count + n
        delta = batch_mean - self.mean
        squares = self.variance * self.count + batch_variance * n + keras.ops.square(delta) * self.count * n / total
        self.mean.assign(self.mean + delta * n / total)
        self.variance.assign(squares / total)
        self.count.assign(total)

    def statistics(self) -> list:
        """mean, variance and count, in the order `NumpyActorCritic` expects them."""
        return [self.mean, self.variance, self.count]


class ActingCopies:
    """What every network here offers the workers, checkpoints and saved files: its weights as a numpy
    acting copy, and back. A network defines `ordered_variables` and `acting_copy` in one same order."""

    observation_normalizer = None

    def snapshot(self):
        """A numpy copy of the current weights for fast acting."""
        return self.acting_copy(v.numpy() for v in self.ordered_variables())

    @functools.cached_property
    def weight_shapes(self) -> list[tuple[int, ...]]:
        """The shape of each of `ordered_variables`: what cuts their flat concatenation apart again.
        Kept: reading them off the Keras variables took a third of a worker's sync with the weights."""
        return [tuple(v.shape) for v in self.ordered_variables()]

    def acting_copy_of_flat(self, flat: np.ndarray):
        """`acting_copy` of weights that come flat (out of a compiled update, or from another process)."""
        return self.acting_copy(unflatten(flat, self.weight_shapes))

    def load_snapshot(self, policy) -> None:
        """Set the weights from a numpy snapshot (the inverse of `snapshot`)."""
        for variable, array in zip(self.ordered_variables(), policy.arrays(), strict=True):
            variable.assign(array)


class ActorCriticModel(ActingCopies, keras.Model):
    """Policy logits and state value for a batch of flat observations."""

    def __init__(
        self,
        n_actions: int,
        hidden: int = 100,
        layers: int = 1,
        activation: str = "relu",
        normalize_obs: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.n_actions = n_actions
        self.hidden = hidden
        self.layers_per_head = layers
        self.activation = activation
        self.normalize_obs = normalize_obs
        # Created before the heads: Keras weight files follow creation order, and older files have no normalizer.
        self.observation_normalizer = ObservationNormalizer(name="observation_normalizer") if normalize_obs else None
        # One attribute per layer, not a list: tf.train.Checkpoint tracks attributes, and Keras 3
        # layer lists are invisible to it. The first layer keeps the one-layer model's name, so
        # checkpoints written before --layers existed still load; creation order (policy head,
        # then value head) is what Keras's weight files follow, so older weight files load too.
        self._add_hidden_layers("policy")
        self.policy_logits = keras.layers.Dense(
            n_actions, kernel_initializer=keras.initializers.Orthogonal(gain=0.01), name="policy_logits"
        )
        self._add_hidden_layers("value")
        self.value_out = keras.layers.Dense(1, kernel_initializer=keras.initializers.Orthogonal(gain=1.0), name="value")

    def _add_hidden_layers(self, head: str) -> None:
        for i in range(self.layers_per_head):
            name = _hidden_name(head, i)
            layer = keras.layers.Dense(
                self.hidden,
                activation=self.activation,
                kernel_initializer=keras.initializers.Orthogonal(gain=math.sqrt(2)),
                name=name,
            )
            setattr(self, name, layer)

    def hidden_layers(self, head: str) -> list[keras.layers.Dense]:
        """The hidden layers of the "policy" or "value" head, input side first."""
        return [getattr(self, _hidden_name(head, i)) for i in range(self.layers_per_head)]

    def build(self, input_shape) -> None:
        """Create every layer's variables from the input's shape, without running the network: a first
        forward pass on a dummy batch did the same at 0.1-0.2 s more of every run's start (eager ops' first
        calls). A seed draws the same weights either way: each layer's initializer has its own seed
        generator, made when the layer is."""
        if self.observation_normalizer is not None:
            self.observation_normalizer.build(input_shape)
        for head, output in (("policy", self.policy_logits), ("value", self.value_out)):
            shape = tuple(input_shape)
            for layer in (*self.hidden_layers(head), output):
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
        if not self.layers_per_head:
            # Linear heads: the logits' bias stays 0. On a one-hot observation every other weight
            # belongs to one state, and the bias alone moves all of them: on Taxi, the -10 of each
            # illegal pickup pushed the pickup bias down in every state, the legal ones too, and no
            # passenger was ever delivered (a tabular actor-critic with Adam at 3e-2, 1M env steps:
            # greedy -187 on seed 0 with the bias, 6.7 to 7.7 on seeds 0-3 without; this network,
            # seed 0, 400k env steps: -200 with it). Frozen rather than left out, so the variables
            # keep one layout (kernel, bias) for every depth.
            self.policy_logits.bias.trainable = False
        self.built = True

    def call(self, states):
        if self.observation_normalizer is not None:
            states = self.observation_normalizer(states)
        policy, value = states, states
        for policy_layer, value_layer in zip(self.hidden_layers("policy"), self.hidden_layers("value"), strict=True):
            policy, value = policy_layer(policy), value_layer(value)
        return self.policy_logits(policy), keras.ops.squeeze(self.value_out(value), axis=-1)

    def dense_layers(self) -> tuple[keras.layers.Dense, ...]:
        """Every layer in the fixed order `NumpyActorCritic` expects: the policy head, then the value head."""
        return (*self.hidden_layers("policy"), self.policy_logits, *self.hidden_layers("value"), self.value_out)

    def policy_variable_count(self) -> int:
        """How many of `trainable_variables`, from the front, are the policy head's (the rest: the value head's).

        Keras lists them in the order the layers were assigned as attributes, the policy head's first;
        this checks that rather than trusting it, as per-head clipping depends on it.
        """
        policy = [
            id(v) for layer in (*self.hidden_layers("policy"), self.policy_logits) for v in layer.trainable_weights
        ]
        if sorted(policy) != sorted(id(v) for v in self.trainable_variables[: len(policy)]):
            raise RuntimeError("the policy head's variables do not come first in trainable_variables")
        return len(policy)

    def ordered_variables(self) -> list:
        """Kernel and bias of each layer, then any observation statistics, in the order `NumpyActorCritic` expects."""
        layers = [v for layer in self.dense_layers() for v in (layer.kernel, layer.bias)]
        if self.observation_normalizer is None:
            return layers
        return layers + self.observation_normalizer.statistics()

    def acting_copy(self, arrays) -> NumpyActorCritic:
        """A numpy network with this model's shape and activation, on `arrays` in `ordered_variables` order."""
        return NumpyActorCritic(tuple(np.asarray(a) for a in arrays), self.activation, self.normalize_obs)


def _hidden_name(head: str, index: int) -> str:
    return f"{head}_hidden" if index == 0 else f"{head}_hidden_{index + 1}"
