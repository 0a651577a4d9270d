"""TensorFlow's side of a training step: compiled once, called cheaply, on one thread.

Each worker's update is one compiled call; this module is how such a call is made and invoked
with the least overhead Python allows (the ops themselves take under a millisecond on CartPole).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from a3c_cartpole.networks.spec import NetworkSpec


def compiled(**options):
    """A decorator making a training step a `CompiledStep`: `tf.function` without autograph (none of the
    steps has Python control flow on tensors, and autograph's rewriting of every Keras call it traces
    about doubles their first call), called directly as its concrete function."""
    return functools.partial(CompiledStep, **options)


SINGLE_THREADED = "SINGLE_THREADED_EXECUTOR"
"""TensorFlow's executor that runs a function's ops one after another on one thread."""


class CompiledStep:
    """A compiled step called as the concrete function of its one trace, made at the first call.

    Calling a tf.function binds and checks each argument in Python every time, which costs a small
    update as much as a third of its time. The concrete function skips that.
    Arrays are made tensors with tf.constant first (faster than the concrete function's own
    conversion), and the trace leaves their first dimension, the batch, open. Not locked: every caller
    holds the global model's lock or owns its step.

    The step runs on TensorFlow's single-threaded executor: a graph of a few hundred tiny ops gains
    nothing from the default executor's thread pool, whose handoffs and spinning cost more than the ops
    (docs/design-notes.md has the figures).
    """

    def __init__(self, function: Callable, **options) -> None:
        self.function = tf.function(function, autograph=False, **options)
        self._concrete = None

    def __call__(self, *args):
        args = [tf.constant(arg) if isinstance(arg, np.ndarray) else arg for arg in args]
        self.trace(*args)
        with tf.experimental.function_executor_type(SINGLE_THREADED):  # per thread: set at each call
            return self._concrete(*args)

    def trace(self, *args) -> None:
        """Trace for `args` (tensors, or TensorSpecs), unless traced already: done before a run's clock
        starts, the first update does not stall every worker for the ~0.16 s a trace takes."""
        if self._concrete is None:
            self._concrete = self.function.get_concrete_function(*map(_any_batch_size, args))


def _any_batch_size(arg):
    """The spec of a tensor argument of any length along its first axis; other arguments as they are."""
    if isinstance(arg, tf.Tensor) and arg.shape.rank:
        return tf.TensorSpec([None, *arg.shape[1:]], arg.dtype)
    return arg


def batch_signature(network: NetworkSpec) -> list[tf.TensorSpec]:
    """Input signature of a compiled step on one flattened rollout: states, actions, returns, mask.

    States keep the env's compact dtype (uint8 images); the network makes them floats.
    """
    return [
        tf.TensorSpec([None, *network.obs_shape], tf.as_dtype(network.obs_dtype)),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.float32),
        tf.TensorSpec([None], tf.float32),
    ]


def backing_variable(variable):
    """The tf.Variable behind a Keras one (a plain tf.Variable as it is): what a GradientTape watches and
    differentiates at, and what a worker's local variables copy their shape and first value from. A
    compiled function keys a tf.Variable argument by its shape and dtype, so local variables made this
    way share one trace; a Keras variable would be keyed by the object: one trace per worker."""
    return variable.value if isinstance(variable, keras.Variable) else variable
