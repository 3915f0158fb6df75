"""What an augmentation method is, as the training loop sees it.

A method may act in three places, any of which may be empty:

* ``image_transform``: per sample on the CPU inside the DataLoader, on a PIL image, with the
  sample's own ``numpy.random.Generator`` (never the global RNG);
* ``batch_transform``: on the device, on a float batch in [0, 1] of shape (N, 3, H, W), with a
  ``torch.Generator`` on that device (Noise2Net, on-the-fly DeepAugment);
* ``views``: how many views of each image the loader returns (3 for AugMix with the Jensen-Shannon
  consistency loss: clean + 2 augmented), with ``jsd_weight`` the loss weight (12 in the paper).

Methods combine with ``+`` in recipe names (``deepaugment+augmix``): the training code composes their
transforms in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Augmentation:
    name: str
    image_transform: Callable[[Any, Any], Any] | None = None
    batch_transform: Callable[[Any, Any], Any] | None = None
    views: int = 1
    jsd_weight: float = 0.0
    options: Mapping[str, Any] = field(default_factory=dict)
