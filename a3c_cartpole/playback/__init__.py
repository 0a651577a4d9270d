"""Using what was trained: --play, recording, the random baseline, loading a saved policy."""
