"""The actor-critic network, and the numpy copy of it that acts."""
