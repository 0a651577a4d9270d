"""Registers, on import, an env that raises at the 100th step of a training instance: for processes
that know only its id (Ray actors import the module named in `tests.brittle_env:RayBrittleCartPole-v0`)."""

import gymnasium as gym

from tests.scripted_envs import BrittleCartPole

ENV_ID = "RayBrittleCartPole-v0"

if ENV_ID not in gym.registry:
    kwargs = {"fail_at": 100, "fails_in": "training"}
    gym.register(ENV_ID, entry_point=BrittleCartPole, max_episode_steps=500, reward_threshold=475.0, kwargs=kwargs)
