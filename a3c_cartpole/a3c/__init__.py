"""The algorithm: the master, its workers, their rollouts, the loss and the shared model."""
