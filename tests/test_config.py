"""TrainConfig validates like the CLI: bad input is a ConfigError naming the offending flag (SPEC §6)."""

import math

import pytest

from a3c_cartpole.config import ConfigError, TrainConfig

COUNTS = {
    "update_freq": "--update-freq",
    "max_eps": "--max-eps",
    "workers": "--workers",
    "envs_per_worker": "--envs-per-worker",
    "hidden": "--hidden",
    "eval_episodes": "--eval-episodes",
    "max_steps": "--max-steps",
}


@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize("field", list(COUNTS))
def test_zero_or_negative_count_is_rejected_naming_its_flag(field, value):
    with pytest.raises(ConfigError, match=COUNTS[field]):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("field", list(COUNTS))
def test_count_of_one_is_accepted(field):
    assert getattr(TrainConfig(**{field: 1}), field) == 1


def test_layers_may_be_zero_but_not_negative():
    assert TrainConfig(layers=0).layers == 0  # linear heads
    with pytest.raises(ConfigError, match="--layers must be >= 0, got -1"):
        TrainConfig(layers=-1)


def test_max_steps_may_be_left_unset():
    assert TrainConfig(max_steps=None).max_steps is None


@pytest.mark.parametrize("lr", [0.0, -1e-3, math.nan])
def test_non_positive_learning_rate_is_rejected(lr):
    with pytest.raises(ConfigError, match="--lr"):
        TrainConfig(lr=lr)


@pytest.mark.parametrize("gamma", [0.0, -0.5, 1.0001, 2.0, math.nan])
def test_gamma_outside_zero_one_is_rejected(gamma):
    with pytest.raises(ConfigError, match="--gamma"):
        TrainConfig(gamma=gamma)


@pytest.mark.parametrize("lam", [-0.1, 1.01, math.nan])
def test_gae_lambda_outside_zero_one_is_rejected(lam):
    with pytest.raises(ConfigError, match="--gae-lambda"):
        TrainConfig(gae_lambda=lam)


@pytest.mark.parametrize("gamma", [1.0, 0.99, 1e-6])
def test_gamma_in_half_open_unit_interval_is_accepted(gamma):
    assert TrainConfig(gamma=gamma).gamma == gamma


@pytest.mark.parametrize(
    ("field", "flag"),
    [("entropy_coef", "--entropy-coef"), ("value_coef", "--value-coef"), ("max_grad_norm", "--max-grad-norm")],
)
def test_negative_coefficient_is_rejected(field, flag):
    with pytest.raises(ConfigError, match=flag):
        TrainConfig(**{field: -0.1})
    assert getattr(TrainConfig(**{field: 0.0}), field) == 0.0


def test_config_error_is_a_value_error():
    # Callers that catch ValueError (argparse type hooks, embedding code) still see bad input.
    assert issubclass(ConfigError, ValueError)


def test_save_dir_is_coerced_to_path(tmp_path):
    config = TrainConfig(save_dir=str(tmp_path))
    assert config.save_dir == tmp_path


def test_linear_lr_schedule_needs_a_step_budget():
    with pytest.raises(ConfigError, match="--max-steps"):
        TrainConfig(lr_schedule="linear")
    assert TrainConfig(lr_schedule="linear", max_steps=1000).lr_schedule == "linear"


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("lr_schedule", "cosine", "--lr-schedule"),
        ("optimizer", "sgd", "--optimizer"),
        ("activation", "gelu", "--activation"),
    ],
)
def test_unknown_choice_is_rejected_naming_its_flag_and_the_choices(field, value, flag):
    with pytest.raises(ConfigError, match=f"{flag} must be one of .*, got '{value}'"):
        TrainConfig(**{field: value})
