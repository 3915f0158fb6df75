"""Object classes for the renditions generator, as polygons in a unit square.

Each class is a function from a random generator to a list of :class:`Part`: closed polygons (filled)
or open polylines (stroked), with the object's natural colour. Geometry carries the class identity;
styles decide what happens to colour and texture, which is what makes the style shift real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

Point = tuple[float, float]
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Part:
    points: tuple[Point, ...]
    color: RGB
    closed: bool = True
    width: float = 0.02  # stroke width for open parts, as a fraction of the object size


def ellipse(cx: float, cy: float, rx: float, ry: float, color: RGB, n: int = 28,
            start: float = 0.0, end: float = 2 * math.pi) -> Part:
    pts = tuple((cx + rx * math.cos(start + (end - start) * i / n), cy + ry * math.sin(start + (end - start) * i / n))
                for i in range(n + (0 if end - start >= 2 * math.pi else 1)))
    return Part(pts, color)


def poly(points: list[Point], color: RGB, closed: bool = True, width: float = 0.02) -> Part:
    return Part(tuple(points), color, closed, width)


def _jit(rng: np.random.Generator, scale: float = 0.03) -> float:
    return float(rng.uniform(-scale, scale))


def goldfish(rng: np.random.Generator) -> list[Part]:
    body = (232, 120 + int(rng.integers(0, 40)), 30)
    h = 0.14 + _jit(rng, 0.03)
    return [poly([(0.66, 0.5), (0.92, 0.3 + _jit(rng)), (0.86, 0.5), (0.92, 0.7 + _jit(rng))], body),
            poly([(0.38, 0.5 - h + 0.02), (0.5, 0.22), (0.6, 0.5 - h + 0.03)], body),
            ellipse(0.45, 0.5, 0.24, h, body),
            poly([(0.42, 0.58), (0.5, 0.72), (0.54, 0.6)], (240, 150, 60)),
            ellipse(0.3, 0.46, 0.025, 0.025, (20, 20, 20))]


def strawberry(rng: np.random.Generator) -> list[Part]:
    red = (200 + int(rng.integers(0, 40)), 30, 40)
    w = 0.24 + _jit(rng)
    parts = [poly([(0.5 - w, 0.38), (0.5 + w, 0.38), (0.5 + w + 0.02, 0.5), (0.5, 0.86), (0.5 - w - 0.02, 0.5)], red)]
    leaf = (40, 140, 50)
    parts.append(poly([(0.5 + 0.2 * math.cos(a) * (1 if i % 2 else 0.35), 0.36 + 0.08 * math.sin(a) * (1 if i % 2 else 0.35))
                       for i, a in enumerate(np.linspace(0, 2 * math.pi, 12, endpoint=False))], leaf))
    for x, y in [(0.4, 0.48), (0.55, 0.5), (0.47, 0.6), (0.6, 0.62), (0.38, 0.58), (0.5, 0.72)]:
        parts.append(ellipse(x, y, 0.012, 0.018, (240, 220, 90), n=8))
    return parts


def mushroom(rng: np.random.Generator) -> list[Part]:
    cap = (190 + int(rng.integers(0, 50)), 40, 30)
    r = 0.3 + _jit(rng)
    return [poly([(0.42, 0.5), (0.58, 0.5), (0.6, 0.85), (0.4, 0.85)], (235, 225, 200)),
            ellipse(0.5, 0.52, r, r * 0.8, cap, start=math.pi, end=2 * math.pi),
            ellipse(0.4, 0.36, 0.04, 0.03, (250, 250, 250), n=10),
            ellipse(0.58, 0.3, 0.05, 0.035, (250, 250, 250), n=10),
            ellipse(0.66, 0.44, 0.03, 0.025, (250, 250, 250), n=10)]


def pizza(rng: np.random.Generator) -> list[Part]:
    parts = [ellipse(0.5, 0.5, 0.38, 0.38, (210, 160, 90)), ellipse(0.5, 0.5, 0.32, 0.32, (220, 90, 40))]
    for _ in range(7):
        a, d = rng.uniform(0, 2 * math.pi), rng.uniform(0.05, 0.24)
        parts.append(ellipse(0.5 + d * math.cos(a), 0.5 + d * math.sin(a), 0.045, 0.045, (150, 30, 30), n=12))
    for k in range(3):
        a = k * math.pi / 3 + _jit(rng, 0.1)
        parts.append(poly([(0.5 - 0.36 * math.cos(a), 0.5 - 0.36 * math.sin(a)),
                           (0.5 + 0.36 * math.cos(a), 0.5 + 0.36 * math.sin(a))], (120, 70, 30), closed=False,
                          width=0.012))
    return parts


def snail(rng: np.random.Generator) -> list[Part]:
    shell = (150 + int(rng.integers(0, 40)), 100, 50)
    spiral = [(0.52 + 0.2 * t * math.cos(6 * math.pi * t), 0.45 + 0.2 * t * math.sin(6 * math.pi * t))
              for t in np.linspace(0.05, 1, 40)]
    return [poly([(0.15, 0.72), (0.2, 0.62), (0.8, 0.62), (0.88, 0.72)], (170, 160, 140)),
            poly([(0.2, 0.64), (0.14, 0.42)], (90, 80, 70), closed=False),
            poly([(0.24, 0.64), (0.24, 0.42)], (90, 80, 70), closed=False),
            ellipse(0.52, 0.45, 0.24, 0.22, shell),
            poly(spiral, (90, 50, 20), closed=False, width=0.018)]


def beacon(rng: np.random.Generator) -> list[Part]:
    w = 0.1 + _jit(rng, 0.02)
    parts = [poly([(0.5 - w - 0.06, 0.9), (0.5 + w + 0.06, 0.9), (0.5 + w, 0.3), (0.5 - w, 0.3)], (240, 240, 235))]
    for y0, y1 in ((0.45, 0.55), (0.68, 0.78)):
        t0, t1 = (0.9 - y0) / 0.6 * 0.06, (0.9 - y1) / 0.6 * 0.06
        parts.append(poly([(0.5 - w - t0, y0), (0.5 + w + t0, y0), (0.5 + w + t1, y1), (0.5 - w - t1, y1)],
                          (200, 30, 30)))
    parts += [poly([(0.5 - w, 0.3), (0.5 + w, 0.3), (0.5 + w, 0.2), (0.5 - w, 0.2)], (250, 220, 90)),
              poly([(0.5 - w - 0.03, 0.2), (0.5 + w + 0.03, 0.2), (0.5, 0.1)], (60, 60, 70))]
    return parts


def candle(rng: np.random.Generator) -> list[Part]:
    w = 0.1 + _jit(rng, 0.03)
    return [poly([(0.5 - w, 0.9), (0.5 + w, 0.9), (0.5 + w, 0.4), (0.5 - w, 0.4)], (240, 230, 200)),
            poly([(0.5, 0.4), (0.5, 0.33)], (30, 30, 30), closed=False, width=0.012),
            poly([(0.5, 0.12), (0.56, 0.26), (0.5, 0.34), (0.44, 0.26)], (255, 170, 30)),
            ellipse(0.5, 0.28, 0.025, 0.04, (255, 240, 150), n=10)]


def ladybug(rng: np.random.Generator) -> list[Part]:
    r = 0.3 + _jit(rng, 0.03)
    parts = [ellipse(0.5, 0.24, 0.13, 0.1, (25, 25, 25)), ellipse(0.5, 0.55, r * 0.9, r, (210, 30, 30)),
             poly([(0.5, 0.55 - r), (0.5, 0.55 + r)], (25, 25, 25), closed=False, width=0.015)]
    for x, y in [(0.38, 0.45), (0.62, 0.45), (0.36, 0.65), (0.64, 0.65), (0.45, 0.76), (0.55, 0.76)]:
        parts.append(ellipse(x, y, 0.045, 0.045, (25, 25, 25), n=12))
    return parts


def starfish(rng: np.random.Generator) -> list[Part]:
    inner = 0.14 + _jit(rng, 0.03)
    pts = [(0.5 + (0.4 if i % 2 == 0 else inner) * math.cos(-math.pi / 2 + i * math.pi / 5),
            0.52 + (0.4 if i % 2 == 0 else inner) * math.sin(-math.pi / 2 + i * math.pi / 5)) for i in range(10)]
    return [poly(pts, (235, 120 + int(rng.integers(0, 50)), 60)),
            ellipse(0.5, 0.52, 0.05, 0.05, (200, 90, 40), n=10)]


def vase(rng: np.random.Generator) -> list[Part]:
    belly = 0.22 + _jit(rng, 0.04)
    right = [(0.6, 0.12), (0.58, 0.22), (0.5 + belly, 0.5), (0.5 + belly * 0.7, 0.8), (0.6, 0.9)]
    left = [(1 - x, y) for x, y in reversed(right)]
    color = (40, 80 + int(rng.integers(0, 60)), 170)
    return [poly(right + left, color), poly([(0.36, 0.5), (0.64, 0.5)], (230, 230, 240), closed=False, width=0.02)]


CLASSES: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "goldfish": goldfish, "strawberry": strawberry, "mushroom": mushroom, "pizza": pizza, "snail": snail,
    "beacon": beacon, "candle": candle, "ladybug": ladybug, "starfish": starfish, "vase": vase,
}


def class_parts(name: str, rng: np.random.Generator) -> list[Part]:
    if name not in CLASSES:
        raise ValueError(f"unknown generator class {name!r}; valid names: {', '.join(CLASSES)}")
    return CLASSES[name](rng)


def place(parts: list[Part], rng: np.random.Generator, size: tuple[int, int]) -> list[Part]:
    """Pose the object in a ``size`` canvas: random scale, rotation, offset and horizontal flip, in pixels."""
    w, h = size
    side = min(w, h) * float(rng.uniform(0.6, 0.95))
    angle = float(rng.uniform(-0.35, 0.35))
    flip = bool(rng.integers(0, 2))
    cx = w / 2 + float(rng.uniform(-0.12, 0.12)) * w
    cy = h / 2 + float(rng.uniform(-0.1, 0.1)) * h
    ca, sa = math.cos(angle), math.sin(angle)
    out = []
    for part in parts:
        pts = []
        for x, y in part.points:
            x = 1 - x if flip else x
            dx, dy = (x - 0.5) * side, (y - 0.5) * side
            pts.append((cx + ca * dx - sa * dy, cy + sa * dx + ca * dy))
        out.append(Part(tuple(pts), part.color, part.closed, part.width * side))
    return out
