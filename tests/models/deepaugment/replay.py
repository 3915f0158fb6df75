"""Record every draw the implementation makes, and feed the same draws to a transcription of the release.

``Recorder`` is a draw source (the protocol of ``models.deepaugment.rand``) that takes its values from a
``torch.Generator`` unless the test forces them (to steer option ids), and logs each draw as (kind,
arguments, value). ``Replay`` hands the logged values back, in order, to the test's transcription of the
released scripts, and fails when the transcription asks for a different kind of draw, with other
arguments, or when draws are left over: the implementation must draw what the release draws, in its order.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Sequence

import numpy as np
import torch


def _key(kind: str, args: tuple) -> tuple:
    return (kind, tuple(tuple(a) if isinstance(a, (range, list, tuple)) else a for a in args))


class Recorder:
    def __init__(self, seed: int, force: dict[tuple, list[Any]] | None = None):
        self.g = torch.Generator().manual_seed(seed)
        self.device = self.g.device
        self.log: list[tuple[tuple, Any]] = []
        self.force = {k: deque(v) for k, v in (force or {}).items()}

    def _draw(self, kind: str, args: tuple, make: Any) -> Any:
        key = _key(kind, args)
        queue = self.force.get(key)
        value = queue.popleft() if queue else make()
        self.log.append((key, value.clone() if isinstance(value, torch.Tensor) else value))
        return value

    def uniform(self) -> float:
        return self._draw("uniform", (), lambda: float(torch.rand(1, generator=self.g)))

    def integer(self, low: int, high: int) -> int:
        return self._draw("integer", (low, high), lambda: int(torch.randint(low, high, (1,), generator=self.g)))

    def integers(self, low: int, high: int, n: int) -> list[int]:
        return self._draw("integers", (low, high, n),
                          lambda: torch.randint(low, high, (n,), generator=self.g).tolist())

    def choice(self, options: Sequence[Any]) -> Any:
        options = list(options)
        return self._draw("choice", (options,),
                          lambda: options[int(torch.randint(0, len(options), (1,), generator=self.g))])

    def rand(self, *shape: int) -> torch.Tensor:
        return self._draw("rand", shape, lambda: torch.rand(shape, generator=self.g))

    def permutation(self, n: int) -> list[int]:
        return self._draw("permutation", (n,), lambda: torch.randperm(n, generator=self.g).tolist())

    def dirichlet(self, alpha: float, k: int, size: tuple[int, ...]) -> np.ndarray:
        seed = int(torch.randint(0, 2**31, (1,), generator=self.g))
        return self._draw("dirichlet", (alpha, k, size),
                          lambda: np.random.default_rng(seed).dirichlet([alpha] * k, size=size))

    def count(self, kind: str, *args: Any) -> int:
        return sum(1 for key, _ in self.log if key == _key(kind, args))


class Replay:
    """The recorded values, handed out to calls of the same kind and arguments in the same order."""

    def __init__(self, log: list[tuple[tuple, Any]]):
        self.log = deque(log)

    def _next(self, kind: str, *args: Any) -> Any:
        assert self.log, f"the release draws {kind}{args} here; the implementation drew nothing more"
        key, value = self.log.popleft()
        assert key == _key(kind, args), f"the release draws {_key(kind, args)} here; the implementation drew {key}"
        return value.clone() if isinstance(value, torch.Tensor) else value

    def uniform(self) -> float:
        return self._next("uniform")

    def integer(self, low: int, high: int) -> int:
        return self._next("integer", low, high)

    def integers(self, low: int, high: int, n: int) -> list[int]:
        return list(self._next("integers", low, high, n))

    def choice(self, options: Sequence[Any]) -> Any:
        return self._next("choice", list(options))

    def rand(self, *shape: int) -> torch.Tensor:
        return self._next("rand", *shape)

    def permutation(self, n: int) -> list[int]:
        return list(self._next("permutation", n))

    def dirichlet(self, alpha: float, k: int, size: tuple[int, ...]) -> np.ndarray:
        return self._next("dirichlet", alpha, k, size)

    def done(self) -> None:
        assert not self.log, f"the implementation drew {len(self.log)} more values than the release: {self.log[0][0]}"
