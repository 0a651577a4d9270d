"""`python -m a3c_cartpole` is the same as the `a3c-cartpole` command."""

from a3c_cartpole.cli import entry

entry()
