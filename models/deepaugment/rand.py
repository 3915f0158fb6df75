"""Small helpers that draw from a caller's ``torch.Generator`` (never the global RNG)."""

from __future__ import annotations

from typing import Any, Sequence


def uniform(g: Any, *shape: int) -> Any:
    """U[0,1) of ``shape`` on the generator's device."""
    import torch

    return torch.rand(shape, generator=g, device=g.device)


def randint(g: Any, low: int, high: int) -> int:
    """One integer uniform in [low, high)."""
    import torch

    return int(torch.randint(low, high, (1,), generator=g, device=g.device).item())


def randints(g: Any, low: int, high: int, n: int) -> list[int]:
    import torch

    return [int(v) for v in torch.randint(low, high, (n,), generator=g, device=g.device).tolist()]


def scalar(g: Any) -> float:
    """One float U[0,1)."""
    return float(uniform(g, 1).item())


def choice(g: Any, options: Sequence[Any]) -> Any:
    return options[randint(g, 0, len(options))]


def numpy_rng(g: Any) -> Any:
    """A numpy Generator seeded from ``g`` (for draws torch cannot take a generator for: Dirichlet)."""
    import numpy as np

    return np.random.default_rng(randint(g, 0, 2**62))
