"""The A3C loss on a two-step batch whose every term is worked out by hand (SPEC §3, defects 1 and 2).

Batch: logits [[0, 0], [ln 3, 0]] -> pi = [0.5, 0.5] and [0.75, 0.25]; actions [0, 0];
values V = [1, 2]; returns R = [3, 1] -> advantages A = R - V = [2, -1].

    policy  = mean(-log pi(a) * A) = (ln2 * 2 + ln(4/3) * -1) / 2 = (ln4 - ln(4/3)) / 2 = ln3 / 2
    value   = mean((R - V)^2) = (4 + 1) / 2 = 2.5
    entropy = (ln2 + (0.75 ln(4/3) + 0.25 ln4)) / 2

Gradient clipping is checked against a gradient taken in the test itself, whose global norm is large.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from a3c_cartpole.a3c.loss import a3c_loss

LOGITS = [[0.0, 0.0], [math.log(3.0), 0.0]]
ACTIONS = [0, 0]
VALUES = [1.0, 2.0]
RETURNS = [3.0, 1.0]

POLICY = math.log(3.0) / 2
VALUE = 2.5
ENTROPY = (math.log(2.0) + 0.75 * math.log(4 / 3) + 0.25 * math.log(4.0)) / 2  # = 0.62774...


def loss(entropy_coef=0.01, value_coef=0.5, values=VALUES, returns=RETURNS, actions=ACTIONS):
    return a3c_loss(
        tf.constant(LOGITS, tf.float32),
        tf.constant(values, tf.float32),
        tf.constant(actions, tf.int32),
        tf.constant(returns, tf.float32),
        entropy_coef,
        value_coef,
    )


def test_policy_term_is_mean_of_neg_log_prob_times_advantage():
    assert float(loss().policy) == pytest.approx(POLICY, rel=1e-5)


def test_value_term_is_mean_squared_error_of_returns():
    assert float(loss().value) == pytest.approx(VALUE, rel=1e-6)


def test_entropy_term_is_mean_entropy_of_policy():
    assert float(loss().entropy) == pytest.approx(ENTROPY, rel=1e-5)


def test_total_adds_weighted_value_and_subtracts_entropy_bonus():
    # 0.549306 + 0.5 * 2.5 - 0.01 * 0.627741 = 1.793029
    expected = POLICY + 0.5 * VALUE - 0.01 * ENTROPY
    assert float(loss(0.01, 0.5).total) == pytest.approx(expected, rel=1e-5)
    # c_v = 2: 0.549306 + 5 - 0 = 5.549306
    assert float(loss(0.0, 2.0).total) == pytest.approx(POLICY + 2.0 * VALUE, rel=1e-5)


def test_larger_entropy_coef_lowers_total_loss():
    # Entropy is a bonus (SPEC defect 2): raising beta by 0.1 lowers the total by 0.1 * H = 0.0627741.
    low, high = float(loss(entropy_coef=0.0).total), float(loss(entropy_coef=0.1).total)
    assert high < low
    assert low - high == pytest.approx(0.1 * ENTROPY, rel=1e-4)


def test_advantage_is_constant_for_the_gradient():
    values = tf.Variable(VALUES, dtype=tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        terms = a3c_loss(tf.constant(LOGITS), values, tf.constant(ACTIONS, tf.int32), tf.constant(RETURNS), 0.01, 0.5)
    zero = tf.UnconnectedGradients.ZERO
    # Without stop-gradient d(policy)/dV_i would be log pi(a_i) / T = [-ln2/2, ln0.75/2] != 0.
    np.testing.assert_array_equal(tape.gradient(terms.policy, values, unconnected_gradients=zero), [0, 0])
    # Only the critic moves V: d(c_v * mean((R-V)^2))/dV = 2 c_v (V - R) / T = (V - R) / 2 = [-1, 0.5].
    np.testing.assert_allclose(tape.gradient(terms.total, values, unconnected_gradients=zero), [-1.0, 0.5], rtol=1e-6)


def test_policy_gradient_on_logits_follows_advantage_sign():
    # d(policy)/d(logits_i) = A_i / T * (pi_i - onehot(a_i)):
    #   row 0: 2/2 * ([0.5, 0.5] - [1, 0]) = [-0.5, 0.5]    (positive advantage: raise logit of a=0)
    #   row 1: -1/2 * ([0.75, 0.25] - [1, 0]) = [0.125, -0.125]  (negative advantage: lower it)
    logits = tf.Variable(LOGITS, dtype=tf.float32)
    with tf.GradientTape() as tape:
        terms = a3c_loss(logits, tf.constant(VALUES), tf.constant(ACTIONS, tf.int32), tf.constant(RETURNS), 0.0, 0.5)
    np.testing.assert_allclose(
        tape.gradient(terms.policy, logits), [[-0.5, 0.5], [0.125, -0.125]], rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"values": [[1.0], [2.0]]},
        {"returns": [[3.0], [1.0]]},
        {"returns": [[[3.0]], [[1.0]]]},
        {"actions": [[0], [0]]},
    ],
    ids=["values_T1", "returns_T1", "returns_T11", "actions_T1"],
)
def test_per_step_tensor_that_is_not_rank_one_is_refused(kwargs):
    # SPEC defect 1: a [T,1] tensor next to a [T] one would silently broadcast to [T,T].
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        loss(**kwargs)


def test_policy_loss_differs_from_tutorial_broadcast_product():
    # The tutorial multiplies the [T] cross-entropy by a [T,1] advantage: the [T,T] mean is
    # mean(-log pi) * mean(A) = ((ln2 + ln(4/3)) / 2) * ((2 - 1) / 2) = 0.2452, every action being
    # credited with the segment's mean advantage. The correct per-step loss is ln3 / 2 = 0.5493.
    broadcast = (math.log(2.0) + math.log(4 / 3)) / 2 * 0.5
    policy = float(loss().policy)
    assert policy == pytest.approx(POLICY, rel=1e-5)
    assert abs(policy - broadcast) > 0.3


def test_masked_step_is_left_out_of_every_term():
    # A third, junk step (logits [5, -5], V = 100, R = -100, action 1) with mask 0 must change nothing:
    # every term keeps its two-step hand value, and the junk value gets no gradient.
    values = tf.Variable([*VALUES, 100.0], dtype=tf.float32)
    with tf.GradientTape() as tape:
        terms = a3c_loss(
            tf.constant([*LOGITS, [5.0, -5.0]], tf.float32),
            values,
            tf.constant([*ACTIONS, 1], tf.int32),
            tf.constant([*RETURNS, -100.0], tf.float32),
            0.01,
            0.5,
            mask=tf.constant([1.0, 1.0, 0.0]),
        )
    assert float(terms.policy) == pytest.approx(POLICY, rel=1e-5)
    assert float(terms.value) == pytest.approx(VALUE, rel=1e-6)
    assert float(terms.entropy) == pytest.approx(ENTROPY, rel=1e-5)
    # Means are over the 2 unmasked steps: 2 c_v (V - R) / 2 = [-1, 0.5, 0].
    np.testing.assert_allclose(tape.gradient(terms.total, values), [-1.0, 0.5, 0.0], rtol=1e-6)


def test_normalized_advantages_scale_the_policy_term_only():
    # A = [2, -1]: mean 0.5, std 1.5 -> normalised A = [1, -1]:
    #   policy = (ln2 * 1 + ln(4/3) * -1) / 2 = ln(3/2) / 2 = 0.202733; the critic still sees R - V.
    # A third step masked out (advantage 100) must not enter the mean or the std.
    terms = a3c_loss(
        tf.constant([*LOGITS, [0.0, 0.0]], tf.float32),
        tf.constant([*VALUES, 0.0], tf.float32),
        tf.constant([*ACTIONS, 1], tf.int32),
        tf.constant([*RETURNS, 100.0], tf.float32),
        0.0,
        0.5,
        mask=tf.constant([1.0, 1.0, 0.0]),
        normalize_advantage=True,
    )
    assert float(terms.policy) == pytest.approx(math.log(1.5) / 2, rel=1e-5)
    assert float(terms.value) == pytest.approx(VALUE, rel=1e-6)


# --- gradient clipping ------------------------------------------------------------------------------------


def global_norm(arrays) -> float:
    """sqrt of the sum of every squared entry, in float64."""
    return float(np.sqrt(sum(np.sum(np.asarray(a, np.float64) ** 2) for a in arrays)))


@pytest.fixture(scope="module")
def big_gradient_batch():
    """A small model and a batch whose returns (1000) are far above its values (near 0): the critic's
    squared error has a gradient in the hundreds or more, far above the default clip of 0.5."""
    import keras

    from tests.conftest import build_mlp

    keras.utils.set_random_seed(4)
    model = build_mlp(4, 2, 8)
    rng = np.random.default_rng(4)
    batch = (
        tf.constant(rng.normal(size=(6, 4)), tf.float32),
        tf.constant([0, 1, 1, 0, 1, 0], tf.int32),
        tf.constant(np.full(6, 1000.0), tf.float32),
        tf.constant(np.ones(6), tf.float32),
    )
    with tf.GradientTape() as tape:  # the raw gradient, taken here, not by the code under test
        logits, values = model(batch[0])
        terms = a3c_loss(logits, values, batch[1], batch[2], 0.01, 0.5, batch[3])
    raw = [np.asarray(g) for g in tape.gradient(terms.total, model.trainable_variables)]
    return model, batch, raw


def test_gradients_above_the_clip_are_scaled_to_exactly_the_clip_norm(big_gradient_batch):
    from a3c_cartpole.a3c.loss import clipped_gradients
    from a3c_cartpole.config import TrainConfig

    model, batch, raw = big_gradient_batch
    raw_norm = global_norm(raw)
    assert raw_norm > 100  # the setup gives the clip something to do
    gradients, _, norm = clipped_gradients(model, *batch, TrainConfig(max_grad_norm=0.5))
    assert float(norm) == pytest.approx(raw_norm, rel=1e-5)  # reported before clipping
    assert global_norm(gradients) == pytest.approx(0.5, rel=1e-5)
    for clipped, unclipped in zip(gradients, raw, strict=True):  # same direction, scaled by 0.5 / |g|
        np.testing.assert_allclose(np.asarray(clipped), unclipped * (0.5 / raw_norm), rtol=1e-4, atol=1e-9)


def test_gradients_within_the_clip_or_with_clipping_off_are_unchanged(big_gradient_batch):
    from a3c_cartpole.a3c.loss import clipped_gradients
    from a3c_cartpole.config import TrainConfig

    model, batch, raw = big_gradient_batch
    for limit in (0.0, 2 * global_norm(raw)):  # 0 turns clipping off
        gradients, _, _ = clipped_gradients(model, *batch, TrainConfig(max_grad_norm=limit))
        for got, want in zip(gradients, raw, strict=True):
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)


def test_a_worker_gradient_step_clips_to_the_configured_norm(big_gradient_batch):
    # The compiled step a worker (thread or Ray actor) calls, with the run's config.
    from a3c_cartpole.a3c.loss import UpdateStats
    from a3c_cartpole.config import TrainConfig
    from a3c_cartpole.parallel.learner import make_gradient_step

    model, batch, raw = big_gradient_batch
    gradients, stats = make_gradient_step(model, TrainConfig(max_grad_norm=1.5))(*batch)
    assert global_norm(gradients) == pytest.approx(1.5, rel=1e-5)
    assert UpdateStats.of(stats).grad_norm == pytest.approx(global_norm(raw), rel=1e-5)


def test_clipping_per_head_clips_each_head_to_the_norm_and_leaves_the_actor_its_own_scale(big_gradient_batch):
    from a3c_cartpole.a3c.loss import clipped_gradients
    from a3c_cartpole.config import TrainConfig

    model, batch, raw = big_gradient_batch
    # build_mlp(4, 2, 8): the policy head is one hidden layer and the logits, kernel and bias each
    policy_names = {"policy_hidden", "policy_logits"}
    n_policy = sum(v.path.split("/")[-2] in policy_names for v in model.trainable_variables)
    assert n_policy == 4 and model.policy_variable_count() == n_policy
    assert all(v.path.split("/")[-2] in policy_names for v in model.trainable_variables[:n_policy])
    actor_norm, critic_norm = global_norm(raw[:n_policy]), global_norm(raw[n_policy:])
    assert critic_norm > 2 * actor_norm  # the critic's error outweighs the actor's gradient
    limit = 1.5 * actor_norm  # above the actor's norm, below the critic's
    gradients, _, norm = clipped_gradients(model, *batch, TrainConfig(max_grad_norm=limit, clip_per_head=True))
    assert float(norm) == pytest.approx(global_norm(raw), rel=1e-5)  # reported before clipping
    for got, want in zip(gradients[:n_policy], raw[:n_policy], strict=True):  # the actor: untouched
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-9)
    for got, want in zip(gradients[n_policy:], raw[n_policy:], strict=True):  # the critic: scaled to the limit
        np.testing.assert_allclose(np.asarray(got), want * (limit / critic_norm), rtol=1e-4, atol=1e-9)
    # clipped as one vector instead, the actor shrinks with the critic
    together, _, _ = clipped_gradients(model, *batch, TrainConfig(max_grad_norm=limit))
    assert global_norm(together[:n_policy]) == pytest.approx(actor_norm * limit / global_norm(raw), rel=1e-4)


@pytest.mark.parametrize("layers, normalize_obs", [(1, False), (2, True), (3, False)])
def test_the_policy_heads_variables_come_first_whatever_the_depth_or_normalizer(layers, normalize_obs):
    from tests.conftest import build_mlp

    model = build_mlp(4, 2, 8, layers, "tanh", normalize_obs)
    n_policy = model.policy_variable_count()
    assert n_policy == 2 * (layers + 1)  # a kernel and a bias per hidden layer, and the logits'
    heads = [v.path.split("/")[-2].split("_")[0] for v in model.trainable_variables]
    assert heads == ["policy"] * n_policy + ["value"] * (len(heads) - n_policy)
