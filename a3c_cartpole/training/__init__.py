"""A run's side jobs and files: checkpoints, outputs, progress, TensorBoard, signals, the save dir."""
