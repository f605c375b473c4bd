"""Everything around the core: the CLI, and (with the Ray and sweep work) Ray Train, Ray Tune and
MLflow. No model math here; TensorFlow is imported lazily, inside the functions that train."""
