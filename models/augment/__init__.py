"""Augmentations: a registry of named methods (see ``registry``) built on ``base.Augmentation``."""

from models.augment.base import Augmentation

__all__ = ["Augmentation"]
