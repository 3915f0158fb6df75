"""Procedural renditions: the generator's object classes drawn in several styles.

``photo`` is photo-like (textured background, shading, soft shadow, sensor noise, natural colours);
the others are renditions (``sketch``, ``cartoon``, ``painting``, ``embroidery``, ``origami``, ``toy``,
``mosaic``) that keep the object's geometry but change colour, texture and edges. A small CNN trained
on ``photo`` learns colour and texture cues that these styles break: a real style shift.

Everything is a pure function of (class, style, seed, size): the same arguments give the same pixels.
"""

from __future__ import annotations

import io
import math
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from curation.emulator.shapes import CLASSES, Part, class_parts, place

RGB = tuple[int, int, int]

# style -> words that appear in titles and tags of such a rendition (the first is its query keyword)
STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "photo": ("photo", "nature", "closeup", "nikon", "canon"),
    "sketch": ("sketch", "drawing", "pencil", "lineart"),
    "cartoon": ("cartoon", "illustration", "comic", "drawing"),
    "painting": ("painting", "art", "oil", "canvas"),
    "embroidery": ("embroidery", "stitch", "needlework", "craft"),
    "origami": ("origami", "paper", "papercraft", "fold"),
    "toy": ("toy", "plastic", "figure", "kids"),
    "mosaic": ("mosaic", "tiles", "art", "pattern"),
}


def _noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Smooth-ish noise: coarse random grid upsampled plus fine grain, in [-scale, scale]."""
    coarse = rng.uniform(-1, 1, (max(2, h // 16), max(2, w // 16))).astype(np.float32)
    up = np.asarray(Image.fromarray(((coarse + 1) * 127.5).astype(np.uint8)).resize((w, h), Image.BILINEAR),
                    dtype=np.float32) / 127.5 - 1
    return (0.7 * up + 0.3 * rng.uniform(-1, 1, (h, w)).astype(np.float32)) * scale


def _gradient(w: int, h: int, top: RGB, bottom: RGB) -> np.ndarray:
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    return (np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t) * np.ones((1, w, 1), np.float32)


def _to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _mask(parts: list[Part], size: tuple[int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for part in parts:
        if part.closed:
            draw.polygon(part.points, fill=255)
        else:
            draw.line(part.points, fill=255, width=max(1, int(part.width)))
    return mask


def _fill(draw: ImageDraw.ImageDraw, parts: list[Part], colors: list[RGB], outline: RGB | None = None,
          width: int = 1) -> None:
    for part, color in zip(parts, colors):
        if part.closed:
            draw.polygon(part.points, fill=color, outline=outline, width=width if outline else 1)
        else:
            draw.line(part.points, fill=outline or color, width=max(width, int(part.width)))


def _vary(color: RGB, rng: np.random.Generator, amount: int = 20) -> RGB:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)  # type: ignore


def photo(parts: list[Part], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    w, h = size
    sky = _vary((150, 180, 210), rng, 40)
    ground = _vary((90, 110, 70), rng, 40)
    bg = _gradient(w, h, sky, ground) + _noise(rng, h, w, 18)[..., None]
    img = _to_image(bg)
    shadow = Image.new("L", size, 0)
    xs = [x for p in parts for x, _ in p.points]
    ys = [y for p in parts for _, y in p.points]
    ImageDraw.Draw(shadow).ellipse((min(xs), max(ys) - 0.04 * h, max(xs), max(ys) + 0.04 * h), fill=110)
    img.paste((20, 20, 20), mask=shadow.filter(ImageFilter.GaussianBlur(max(1, w // 40))))
    layer = Image.new("RGB", size)
    _fill(ImageDraw.Draw(layer), parts, [_vary(p.color, rng, 15) for p in parts])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lx, ly = float(np.mean(xs) - 0.2 * w), float(np.mean(ys) - 0.2 * h)
    light = 1.25 - 0.6 * np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / max(w, h)
    shaded = np.asarray(layer, np.float32) * light[..., None] + _noise(rng, h, w, 14)[..., None]
    img.paste(_to_image(shaded), mask=_mask(parts, size).filter(ImageFilter.GaussianBlur(0.7)))
    return img.filter(ImageFilter.GaussianBlur(0.5))


def sketch(parts: list[Part], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    w, h = size
    paper = np.full((h, w, 3), float(rng.integers(228, 250)), np.float32) + _noise(rng, h, w, 6)[..., None]
    img = _to_image(paper)
    draw = ImageDraw.Draw(img)
    ink = (int(rng.integers(20, 70)),) * 3
    for part in parts:
        for _ in range(2):
            dx, dy = rng.normal(0, 0.6, 2)
            pts = [(x + dx, y + dy) for x, y in part.points]
            draw.line(pts + ([pts[0]] if part.closed else []), fill=ink, width=1)
    return img


def cartoon(parts: list[Part], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    palette = [(255, 90, 90), (255, 200, 40), (80, 200, 255), (140, 230, 90), (220, 120, 255), (255, 150, 60)]
    bg = palette[int(rng.integers(0, len(palette)))]
    img = Image.new("RGB", size, tuple(min(255, c + 60) for c in bg))  # type: ignore[arg-type]
    colors = [palette[int(rng.integers(0, len(palette)))] for _ in parts]
    _fill(ImageDraw.Draw(img), parts, colors, outline=(0, 0, 0), width=max(2, size[0] // 60))
    return img


def painting(parts: list[Part], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    w, h = size
    base = Image.new("RGB", size, _vary((180, 160, 120), rng, 60))
    _fill(ImageDraw.Draw(base), parts, [_vary(p.color, rng, 50) for p in parts])
    src = np.asarray(base)
    canvas = base.filter(ImageFilter.GaussianBlur(2))
    draw = ImageDraw.Draw(canvas)
    n = int(w * h / 90)
    xs, ys = rng.integers(0, w, n), rng.integers(0, h, n)
    angles = rng.uniform(0, math.pi, n)
    length = max(3, w // 25)
    for x, y, a in zip(xs, ys, angles):
        color = tuple(int(c) for c in src[y, x])
        dx, dy = length * math.cos(a), length * math.sin(a)
        draw.line((x - dx, y - dy, x + dx, y + dy), fill=_vary(color, rng, 18), width=max(2, w // 60))
    return canvas


def embroidery(parts: list[Part], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    weave = 0.5 + 0.25 * (np.sin(xx * 2.1) + np.sin(yy * 2.1))
    fabric = np.array(_vary((225, 215, 190), rng, 25), np.float32) * (0.85 + 0.15 * weave)[..., None]
    out = fabric.copy()
    for part in parts:
        if not part.closed:
            continue
        m = np.asarray(_mask([part], size), np.float32)[..., None] / 255
        a = float(rng.uniform(0, math.pi))
        threads = 0.65 + 0.35 * np.abs(np.sin((xx * math.cos(a) + yy * math.sin(a)) * 1.3))
        color = np.array(_vary(part.color, rng, 25), np.float32) * threads[..., None]
        out = out * (1 - m) + color * m
    img = _to_image(out)
    draw = ImageDraw.Draw(img)
    for part in parts:
        pts = list(part.points) + ([part.points[0]] if part.closed else [])
        for i in range(0, len(pts) - 1, 2):
            draw.line((pts[i], pts[i + 1]), fill=(60, 40, 30), width=max(1, w // 120))
    return img


def origami(parts: list[Part], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", size, _vary((200, 190, 175), rng, 30))
    draw = ImageDraw.Draw(img)
    papers = [(230, 60, 60), (60, 120, 220), (250, 200, 50), (60, 170, 110), (240, 240, 235), (200, 90, 200)]
    for part in parts:
        if not part.closed:
            continue
        color = np.array(papers[int(rng.integers(0, len(papers)))], np.float32)
        pts = part.points[:: max(1, len(part.points) // 6)]
        cx = sum(x for x, _ in pts) / len(pts) + float(rng.normal(0, 2))
        cy = sum(y for _, y in pts) / len(pts) + float(rng.normal(0, 2))
        for i in range(len(pts)):
            shade = float(rng.uniform(0.65, 1.1))
            tri = [pts[i], pts[(i + 1) % len(pts)], (cx, cy)]
            draw.polygon(tri, fill=tuple(int(min(255, c * shade)) for c in color), outline=(255, 255, 255))
    return img


def toy(parts: list[Part], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    w, h = size
    img = _to_image(_gradient(w, h, _vary((235, 235, 240), rng, 15), _vary((190, 190, 200), rng, 15)))
    primaries = [(230, 30, 30), (250, 210, 0), (30, 90, 220), (30, 170, 60)]
    layer = Image.new("RGB", size)
    _fill(ImageDraw.Draw(layer), parts, [primaries[int(rng.integers(0, 4))] for _ in parts])
    img.paste(layer, mask=_mask(parts, size).filter(ImageFilter.GaussianBlur(max(1, w // 80))))
    draw = ImageDraw.Draw(img)
    for part in parts:
        if part.closed and len(part.points) > 6:
            xs = [x for x, _ in part.points]
            ys = [y for _, y in part.points]
            x0, y0 = min(xs) + 0.2 * (max(xs) - min(xs)), min(ys) + 0.15 * (max(ys) - min(ys))
            r = 0.08 * (max(xs) - min(xs)) + 1
            draw.ellipse((x0, y0, x0 + 2 * r, y0 + r), fill=(255, 255, 255))
    return img


def mosaic(parts: list[Part], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    w, h = size
    base = Image.new("RGB", size, _vary((120, 140, 160), rng, 60))
    _fill(ImageDraw.Draw(base), parts, [_vary(p.color, rng, 30) for p in parts])
    tile = max(3, w // 24)
    small = base.resize((max(1, w // tile), max(1, h // tile)), Image.BILINEAR)
    arr = np.asarray(small.resize(size, Image.NEAREST), np.float32)
    arr = arr + rng.normal(0, 10, (small.height, small.width, 1)).repeat(tile, 0).repeat(tile, 1)[:h, :w] \
        if small.height * tile >= h and small.width * tile >= w else arr
    grout = np.ones((h, w), np.float32)
    grout[::tile, :] = 0.55
    grout[:, ::tile] = 0.55
    return _to_image(arr * grout[..., None])


STYLES: dict[str, Callable[[list[Part], tuple[int, int], np.random.Generator], Image.Image]] = {
    "photo": photo, "sketch": sketch, "cartoon": cartoon, "painting": painting, "embroidery": embroidery,
    "origami": origami, "toy": toy, "mosaic": mosaic,
}
RENDITION_STYLES = tuple(s for s in STYLES if s != "photo")


def render(class_name: str, style: str, seed: int, size: tuple[int, int]) -> Image.Image:
    """Draw one object of ``class_name`` in ``style``; deterministic in (class, style, seed, size)."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; valid styles: {', '.join(STYLES)}")
    pose_rng = np.random.default_rng([seed, 1])  # pose and shape do not depend on the size
    parts = place(class_parts(class_name, pose_rng), pose_rng, size)
    return STYLES[style](parts, size, np.random.default_rng([seed, 2, size[0], size[1]]))


def encode(img: Image.Image, fmt: str = "JPEG", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()


def variant(img: Image.Image, kind: str | None) -> Image.Image:
    """A planted variant of a rendered image: ``mirror``, ``resize``, ``crop`` (near duplicates) or None."""
    if kind in (None, "exact", "reencode"):
        return img
    if kind == "mirror":
        return img.transpose(Image.FLIP_LEFT_RIGHT)
    if kind == "resize":  # down and up again: the resampling loss of a resized re-upload, at the same size
        small = img.resize((max(8, int(img.width * 0.6)), max(8, int(img.height * 0.6))), Image.BILINEAR)
        return small.resize(img.size, Image.BILINEAR)
    if kind == "crop":
        dx, dy = max(1, img.width // 25), max(1, img.height // 25)
        return img.crop((dx, dy, img.width - dx, img.height - dy)).resize(img.size, Image.BILINEAR)
    raise ValueError(f"unknown variant {kind!r}; valid: exact, reencode, mirror, resize, crop")


def black(size: tuple[int, int]) -> Image.Image:
    return Image.new("RGB", size, (0, 0, 0))


__all__ = ["CLASSES", "STYLES", "STYLE_WORDS", "RENDITION_STYLES", "render", "encode", "variant", "black"]
