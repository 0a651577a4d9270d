"""A run's side jobs and files: solved checks, checkpoints, outputs, progress, TensorBoard, signals, the save
dir, and what the run achieved."""
