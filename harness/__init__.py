"""optim-parity: a differential conformance harness for deep-learning optimizers."""
