"""Training and evaluation on frozen exports: models, data, augmentations, metrics, reports."""
