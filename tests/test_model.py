"""The Keras actor-critic and its numpy acting copy: shapes, agreement, round trip, action choice."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from a3c_cartpole.config import ACTIVATIONS
from a3c_cartpole.networks.acting_copy import NUMPY_ACTIVATIONS, NumpyActorCritic
from a3c_cartpole.networks.actor_critic import ActorCriticModel
from tests.conftest import build_mlp

OBS, ACTIONS, HIDDEN = 4, 3, 16


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return build_mlp(OBS, ACTIONS, HIDDEN), build_mlp(OBS, ACTIONS, HIDDEN)


@pytest.fixture(scope="module")
def states():
    return np.random.default_rng(1).normal(size=(7, OBS)).astype(np.float32)


def test_model_outputs_logits_per_action_and_one_value_per_state(models, states):
    model, _ = models
    assert isinstance(model, ActorCriticModel)
    logits, values = model(states)
    assert tuple(logits.shape) == (7, ACTIONS)
    assert tuple(values.shape) == (7,)  # rank 1, not [B, 1] (SPEC defect 1)


@pytest.mark.parametrize(("obs_size", "n_actions"), [(4, 2), (8, 4)])
def test_untrained_policy_is_near_uniform(obs_size, n_actions):
    # With Keras's default (Glorot) logits kernel the initial action probabilities of unit-scale
    # states spread by ~0.1 around 1/A; the small initial kernel keeps them within 0.01.
    keras.utils.set_random_seed(3)
    network = build_mlp(obs_size, n_actions, 100).snapshot()
    obs = np.random.default_rng(2).normal(size=(256, obs_size)).astype(np.float32)
    logits = network.logits(obs)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.abs(probs - 1 / n_actions).max() < 0.01


def test_numpy_snapshot_computes_same_forward_pass(models, states):
    model, _ = models
    logits, values = model(states)
    snap = model.snapshot()
    np.testing.assert_allclose(snap.logits(states), np.asarray(logits), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(snap.values(states), np.asarray(values), rtol=1e-5, atol=1e-5)
    assert snap.values(states).shape == (7,)


@pytest.mark.parametrize(("layers", "normalize_obs"), [(1, False), (3, True)])
def test_built_model_holds_the_weights_a_first_forward_pass_would_create(layers, normalize_obs, states):
    # build_model creates the variables without running the network; with the same seed, a model built
    # by calling it draws the same weights, so runs keep the weights their seeds drew before the change.
    keras.utils.set_random_seed(5)
    built = build_mlp(OBS, ACTIONS, HIDDEN, layers, "tanh", normalize_obs)
    keras.utils.set_random_seed(5)
    called = ActorCriticModel(ACTIONS, HIDDEN, layers, "tanh", normalize_obs)
    called(np.zeros((1, OBS), dtype=np.float32))
    in_model = [[v.path.split("/", 1)[1] for v in model.weights] for model in (built, called)]
    assert in_model[0] == in_model[1]  # the same variables, in the same order (weight files follow it)
    for mine, theirs in zip(built.snapshot().arrays(), called.snapshot().arrays(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(built(states)[0], called(states)[0])


@pytest.mark.parametrize(("layers", "activation"), [(2, "relu"), (3, "relu"), (1, "tanh"), (2, "tanh")])
def test_deeper_heads_keep_the_numpy_copy_exact(layers, activation, states):
    model = build_mlp(OBS, ACTIONS, HIDDEN, layers, activation)
    assert len(model.trainable_variables) == 4 * (layers + 1)  # kernel and bias of each layer of two heads
    snap = model.snapshot()
    assert (snap.layers, snap.hidden, snap.activation) == (layers, HIDDEN, activation)
    logits, values = model(states)
    np.testing.assert_allclose(snap.logits(states), np.asarray(logits), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(snap.values(states), np.asarray(values), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("activation", "expected"),
    [("relu", [1.5, 0.5]), ("tanh", [2 * math.tanh(0.5) + 0.5, 2 * math.tanh(-1.0) + 0.5])],
)
def test_numpy_copy_applies_the_named_activation(activation, expected):
    # One hidden unit h = act(obs) in each head; value = 2 h + 0.5. At obs 0.5 relu gives h = 0.5,
    # value 1.5; at obs -1 relu gives h = 0, value 0.5. tanh gives h = tanh(obs).
    one, zero = np.ones((1, 1), np.float32), np.zeros(1, np.float32)
    policy = NumpyActorCritic((one, zero, one, zero, one, zero, 2 * one, zero + 0.5), activation)
    np.testing.assert_allclose(policy.values(np.array([[0.5], [-1.0]], np.float32)), expected, atol=1e-6)


def test_every_allowed_activation_has_a_numpy_twin():
    # config.ACTIVATIONS is what the CLI and the run record accept; acting needs each one in numpy
    assert set(NUMPY_ACTIVATIONS) == set(ACTIVATIONS)


def test_weights_start_orthogonal_with_sb3_gains():
    # An orthogonal kernel with gain g has columns (or rows, whichever are fewer) of length g that are
    # mutually perpendicular: K^T K = g^2 I for a square hidden-to-hidden kernel.
    keras.utils.set_random_seed(4)
    model = build_mlp(8, 4, 64, layers=2)
    for head in ("policy", "value"):
        first, second = (np.asarray(layer.kernel) for layer in model.hidden_layers(head))
        np.testing.assert_allclose(second.T @ second, 2 * np.eye(64), atol=1e-4)
        np.testing.assert_allclose(first @ first.T, 2 * np.eye(8), atol=1e-4)  # 8 inputs: rows are the fewer
    assert np.linalg.norm(np.asarray(model.value_out.kernel)) == pytest.approx(1.0, abs=1e-5)
    assert np.linalg.norm(np.asarray(model.policy_logits.kernel), axis=0) == pytest.approx([0.01] * 4, abs=1e-6)


@pytest.mark.parametrize("layers", [1, 2])
def test_a_model_checkpoint_holds_every_layer(layers, tmp_path):
    """Resume restores the model from a tf.train.Checkpoint: every weight must be in it by name."""
    source, target = (build_mlp(OBS, ACTIONS, HIDDEN, layers) for _ in range(2))
    path = tf.train.Checkpoint(model=source).write(str(tmp_path / "model"))
    tf.train.Checkpoint(model=target).read(path).assert_consumed()
    for a, b in zip(target.snapshot().arrays(), source.snapshot().arrays(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_snapshot_copies_weights_into_another_model(models, states):
    source, target = models
    before = np.asarray(target(states)[0])
    assert not np.allclose(before, np.asarray(source(states)[0]))  # independent initialisations
    target.load_snapshot(source.snapshot())
    for got, want in zip(target(states), source(states), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)
    for a, b in zip(target.snapshot().arrays(), source.snapshot().arrays(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_snapshot_is_a_copy_not_a_view_of_live_weights(states):
    model = build_mlp(OBS, ACTIONS, HIDDEN)
    snap = model.snapshot()
    frozen = snap.logits(states).copy()
    model.policy_logits.bias.assign(np.full(ACTIONS, 5.0, np.float32))
    np.testing.assert_array_equal(snap.logits(states), frozen)


def test_greedy_action_is_argmax_of_logits(make_fixed_policy):
    # Hidden unit h = relu(obs[0]); logits = h * [0, 1, -1] + [0.5, 0, 0]:
    #   obs[0] = 0  -> logits [0.5, 0, 0]   -> action 0
    #   obs[0] = 2  -> logits [0.5, 2, -2]  -> action 1
    #   obs[0] = -3 -> h = 0, logits [0.5, 0, 0] -> action 0
    policy = make_fixed_policy(1, [0.5, 0.0, 0.0], 0.0)
    w = list(policy.arrays())
    w[0] = np.array([[1.0]], np.float32)
    w[2] = np.array([[0.0, 1.0, -1.0]], np.float32)
    policy = NumpyActorCritic(tuple(w))
    obs = np.array([[0.0], [2.0], [-3.0]], np.float32)
    np.testing.assert_array_equal(policy.greedy(obs), [0, 1, 0])
    # With bias [0, 0, 3] instead: obs 0 -> [0, 0, 3] -> 2; obs 2 -> [0, 2, 1] -> 1; obs -3 -> 2.
    w[3] = np.array([0.0, 0.0, 3.0], np.float32)
    np.testing.assert_array_equal(NumpyActorCritic(tuple(w)).greedy(obs), [2, 1, 2])


def test_sample_follows_softmax_probabilities(make_fixed_policy):
    # logits [ln3, 0] -> P(a=0) = 3 / (3 + 1) = 0.75; the std of the frequency over 20000 draws is
    # sqrt(0.75 * 0.25 / 20000) = 0.0031, so +-0.02 is more than 6 standard deviations.
    policy = make_fixed_policy(4, [math.log(3.0), 0.0], 0.0)
    obs = np.zeros((20000, 4), np.float32)
    actions = policy.sample(obs, np.random.default_rng(123))
    assert actions.shape == (20000,)
    assert set(np.unique(actions)) <= {0, 1}
    assert abs(np.mean(actions == 0) - 0.75) < 0.02


def test_sample_three_actions_matches_softmax(make_fixed_policy):
    # logits [ln1, ln2, ln5] -> probabilities [1, 2, 5] / 8 = [0.125, 0.25, 0.625].
    policy = make_fixed_policy(2, [0.0, math.log(2.0), math.log(5.0)], 0.0)
    actions = policy.sample(np.zeros((20000, 2), np.float32), np.random.default_rng(7))
    freq = np.bincount(actions, minlength=3) / 20000
    np.testing.assert_allclose(freq, [0.125, 0.25, 0.625], atol=0.02)


def test_fixed_policy_value_is_its_bias(make_fixed_policy):
    policy = make_fixed_policy(4, [0.0, 0.0], 3.5)
    np.testing.assert_array_equal(policy.values(np.ones((3, 4), np.float32)), [3.5, 3.5, 3.5])


def test_linear_heads_on_a_one_hot_state_are_a_table_row_with_no_policy_bias():
    # With no hidden layer a one-hot state s picks row s of each output kernel: logits = K_pi[s] (the
    # policy's bias frozen at 0) and value = K_v[s] + b_v.
    model = build_mlp(5, 3, HIDDEN, layers=0)
    assert model.spec.describe() == "linear heads"
    assert not model.policy_logits.bias.trainable and model.value_out.bias.trainable
    model.value_out.bias.assign([0.25])
    one_hot = np.eye(5, dtype=np.float32)[[2, 4]]
    logits, values = model(one_hot)
    policy_kernel, value_kernel = np.asarray(model.policy_logits.kernel), np.asarray(model.value_out.kernel)
    np.testing.assert_allclose(np.asarray(logits), policy_kernel[[2, 4]], atol=1e-6)
    np.testing.assert_allclose(np.asarray(values), value_kernel[[2, 4], 0] + 0.25, atol=1e-6)
    snap = model.snapshot()
    assert (snap.layers, snap.hidden) == (0, 0)
    np.testing.assert_allclose(snap.logits(one_hot), np.asarray(logits), atol=1e-6)
    np.testing.assert_allclose(snap.values(one_hot), np.asarray(values), atol=1e-6)


def test_a_gradient_step_leaves_the_linear_policys_bias_at_zero():
    # A loss that wants every state's first logit up moves a bias at once, when the bias is trainable;
    # the optimizer must never see the linear policy's.
    model = build_mlp(5, 3, HIDDEN, layers=0)
    optimizer = keras.optimizers.SGD(learning_rate=1.0)
    with tf.GradientTape() as tape:
        logits, values = model(np.eye(5, dtype=np.float32))
        loss = -tf.reduce_sum(logits[:, 0]) + tf.reduce_sum(values)
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
    np.testing.assert_array_equal(np.asarray(model.policy_logits.bias), np.zeros(3))
    assert float(model.value_out.bias[0]) == pytest.approx(-5.0)  # d(sum of 5 values)/d(bias) = 5, lr 1
    np.testing.assert_allclose(np.asarray(model.policy_logits.kernel)[:, 0], np.full(5, 1.0), atol=0.05)
