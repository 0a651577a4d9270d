"""Where workers act and learn: compiled TensorFlow steps, child processes, Ray."""
