"""Data: the synthetic generator (no TensorFlow), folder scanning and the tf.data pipeline."""
