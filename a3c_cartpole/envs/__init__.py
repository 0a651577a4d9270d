"""Envs: what the agent needs to know of one, finding its registration, and making it."""
