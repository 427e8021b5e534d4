"""train: optimizers, the one training loop (Trainer) and its checkpoints."""
