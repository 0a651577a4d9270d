"""`python -m a3c_cartpole` is the same as the `a3c-cartpole` command."""

import sys

from a3c_cartpole.cli import main

sys.exit(main())
