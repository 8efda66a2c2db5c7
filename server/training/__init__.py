"""Training: sampler, augmentation, models, trainer, runs, TensorBoard."""
