"""The draw source: every random draw DeepAugment makes goes through one of these.

The released scripts draw from three generators (numpy's, Python's ``random`` and torch's). Here all
draws go through a :class:`Draws` object whose primitives name the kind of draw the released code
makes at that point (``np.random.choice(np.arange(0, 10, 3))`` is ``choice([0, 3, 6, 9])``,
``random.randint(1, 4)`` is ``integer(1, 5)``, ``torch.rand_like(x)`` is ``rand(*x.shape)``), made in
the released order. Library functions take either a ``torch.Generator`` (wrapped in
:class:`TorchDraws`, the normal case) or any object with these methods: a test can record every
draw and feed the same values to a transcription of the released code.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence


class Draws(Protocol):
    """The primitives; integer ranges are half-open [low, high) as in numpy and torch."""

    device: Any

    def uniform(self) -> float:
        """One U[0,1) scalar (``np.random.uniform()``, ``random.random()``)."""

    def integer(self, low: int, high: int) -> int:
        """One integer uniform in [low, high)."""

    def integers(self, low: int, high: int, n: int) -> list[int]:
        """``n`` integers in one draw (``np.random.randint(low, high, size=n)``)."""

    def choice(self, options: Sequence[Any]) -> Any:
        """One element, uniformly."""

    def rand(self, *shape: int) -> Any:
        """A U[0,1) float32 tensor on ``device`` (``torch.rand_like``)."""

    def permutation(self, n: int) -> list[int]:
        """A random order of range(n) (``np.random.permutation``, ``random.shuffle``)."""

    def dirichlet(self, alpha: float, k: int, size: tuple[int, ...]) -> Any:
        """A numpy array of shape ``size + (k,)``, Dirichlet(alpha x k) rows."""


class TorchDraws:
    """:class:`Draws` from a caller's ``torch.Generator`` (never the global RNG)."""

    def __init__(self, g: Any):
        self.g = g

    @property
    def device(self) -> Any:
        return self.g.device

    def rand(self, *shape: int) -> Any:
        import torch

        return torch.rand(shape, generator=self.g, device=self.g.device)

    def uniform(self) -> float:
        return float(self.rand(1).item())

    def integers(self, low: int, high: int, n: int) -> list[int]:
        import torch

        return [int(v) for v in torch.randint(low, high, (n,), generator=self.g, device=self.g.device).tolist()]

    def integer(self, low: int, high: int) -> int:
        return self.integers(low, high, 1)[0]

    def choice(self, options: Sequence[Any]) -> Any:
        return list(options)[self.integer(0, len(options))]

    def permutation(self, n: int) -> list[int]:
        import torch

        return [int(v) for v in torch.randperm(n, generator=self.g, device=self.g.device).tolist()]

    def dirichlet(self, alpha: float, k: int, size: tuple[int, ...]) -> Any:
        """From a numpy generator seeded by ``g`` (torch takes no generator for Dirichlet draws)."""
        import numpy as np

        return np.random.default_rng(self.integer(0, 2**62)).dirichlet([alpha] * k, size=size)


def source(g: Any) -> Draws:
    """``g`` as a draw source: a ``torch.Generator`` is wrapped, anything else is taken as one."""
    import torch

    return TorchDraws(g) if isinstance(g, torch.Generator) else g


def device_of(g: Any) -> Any:
    """The device the draws of ``g`` land on."""
    return source(g).device
