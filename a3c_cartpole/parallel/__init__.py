"""Where workers act and learn: the worker group and its seeds, compiled TensorFlow steps, child processes, Ray."""
