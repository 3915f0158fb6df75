"""The emulator's generated corpus: photo records with Flickr metadata, planted trouble, ground truth.

A corpus is a list of :class:`PhotoSpec` built from a :class:`CorpusConfig` and a seed. Images are not
stored: the image host renders them on request (see :func:`image_bytes`). Planted items (exact, near
and mirrored duplicates, pitch-black and tiny images, overlaps with a reference set) are listed by
:meth:`Corpus.ground_truth`, so filters and the demo can be checked against the truth.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from curation.emulator import renditions as R

FIRST_UPLOAD = int(dt.datetime(2005, 1, 1, tzinfo=dt.timezone.utc).timestamp())
LAST_UPLOAD = int(dt.datetime(2025, 12, 31, tzinfo=dt.timezone.utc).timestamp())
LICENSE_WEIGHTS = {"0": 0.25, "1": 0.1, "2": 0.1, "3": 0.05, "4": 0.15, "5": 0.1, "6": 0.03, "7": 0.04,
                   "8": 0.02, "9": 0.1, "10": 0.06}
PLANT_KINDS = ("exact", "reencode", "resize", "crop", "mirror", "black", "tiny", "reference")


@dataclass(frozen=True)
class CorpusConfig:
    classes: tuple[str, ...] = ("goldfish", "strawberry", "mushroom", "beacon", "ladybug")
    styles: tuple[str, ...] = ("photo", "sketch", "cartoon", "painting", "origami")
    per_cell: int = 10  # photos per (class, style)
    photo_per_cell: int | None = None  # photos per class in the photo-like style (default: per_cell)
    plants: int = 2  # planted items of each kind in PLANT_KINDS
    deleted: int = 0  # photos whose image host answers with the 'photo unavailable' placeholder
    noai: int = 0  # photos served with X-Robots-Tag: noai
    small_originals: int = 0  # genuine photos uploaded at 500x374 (their largest size; like the placeholder's)
    reference_size: int = 12  # reference images besides the overlaps
    first_upload: int = FIRST_UPLOAD
    last_upload: int = LAST_UPLOAD


@dataclass(frozen=True)
class PhotoSpec:
    id: str
    owner: str
    ownername: str
    secret: str
    server: str
    title: str
    tags: str
    description: str
    license: str
    dateupload: int
    datetaken: str
    class_name: str
    style: str
    seed: int
    width: int  # original size
    height: int
    variant: str | None = None  # planted variant of the image of ``seed``
    plant: str | None = None  # PLANT_KINDS entry, or None for an ordinary photo
    plant_of: str | None = None  # the photo (or reference file) this one duplicates
    safety: int = 1
    content_type: int = 1
    deleted: bool = False
    noai: bool = False
    quality: int = 90


@dataclass
class Corpus:
    config: CorpusConfig
    seed: int
    photos: list[PhotoSpec] = field(default_factory=list)
    reference: list[dict] = field(default_factory=list)  # {name, class_name, style, seed, variant}

    def by_id(self) -> dict[str, PhotoSpec]:
        return {p.id: p for p in self.photos}

    def ground_truth(self) -> list[dict]:
        """One row per photo: its true class and style and what was planted."""
        keys = ("id", "class_name", "style", "plant", "plant_of", "variant", "deleted", "noai", "license", "title")
        return [{k: asdict(p)[k] for k in keys} for p in self.photos]

    def write_ground_truth(self, path: Path) -> Path:
        path.write_text(json.dumps({"seed": self.seed, "config": asdict(self.config),
                                    "photos": self.ground_truth(), "reference": self.reference}, indent=1))
        return path


def _title(rng: np.random.Generator, class_name: str, style: str) -> tuple[str, str, str]:
    words = R.STYLE_WORDS[style]
    name = class_name.replace("_", " ")
    alias = {"beacon": "lighthouse"}.get(class_name)
    adjective = ["my", "little", "old", "a", "the", "cute", "big", "blue", "happy"][int(rng.integers(0, 9))]
    if style == "photo":
        title = f"{adjective} {name}" + ["", " at dusk", " in the garden", " closeup", " IMG_" +
                                         str(int(rng.integers(1000, 9999)))][int(rng.integers(0, 5))]
    else:
        title = f"{adjective} {name} {words[int(rng.integers(0, min(2, len(words))))]}"
    tags = [name.replace(" ", ""), *(alias and [alias] or []), *words[: int(rng.integers(2, len(words) + 1))]]
    if style != "photo" and words[0] not in tags:
        tags.append(words[0])
    description = f"{name} {style} #{int(rng.integers(1, 500))}"
    return title, " ".join(dict.fromkeys(tags)), description


def _photo(rng: np.random.Generator, index: int, cfg: CorpusConfig, class_name: str, style: str,
           seed: int) -> PhotoSpec:
    title, tags, description = _title(rng, class_name, style)
    uploaded = int(rng.integers(cfg.first_upload, cfg.last_upload))
    taken = dt.datetime.fromtimestamp(uploaded - int(rng.integers(0, 90 * 86400)), dt.timezone.utc)
    landscape = bool(rng.integers(0, 4))
    big, small = int(rng.choice([640, 1024, 2048, 4000])), 0
    small = big * 3 // 4
    licenses, weights = list(LICENSE_WEIGHTS), np.array(list(LICENSE_WEIGHTS.values()))
    user = int(rng.integers(1, 400))
    return PhotoSpec(
        id=str(49_000_000_000 + index * 7 + 3), owner=f"{10_000_000 + user}@N0{user % 9}",
        ownername=f"synthetic_user_{user}", secret=f"{int(rng.integers(0, 16 ** 10)):010x}",
        server=str(65535 - int(rng.integers(0, 3))), title=title, tags=tags, description=description,
        license=licenses[int(rng.choice(len(licenses), p=weights / weights.sum()))], dateupload=uploaded,
        datetaken=taken.strftime("%Y-%m-%d %H:%M:%S"), class_name=class_name, style=style, seed=seed,
        width=big if landscape else small, height=small if landscape else big,
        safety=1 if rng.random() > 0.03 else 2, content_type=1 if rng.random() > 0.05 else 3)


def build_corpus(config: CorpusConfig | None = None, seed: int = 0) -> Corpus:
    """Generate a corpus: ``per_cell`` photos per (class, style), then the planted items."""
    cfg = config or CorpusConfig()
    for name in cfg.classes:
        if name not in R.CLASSES:
            raise ValueError(f"unknown generator class {name!r}; valid names: {', '.join(R.CLASSES)}")
    for style in cfg.styles:
        if style not in R.STYLES:
            raise ValueError(f"unknown style {style!r}; valid styles: {', '.join(R.STYLES)}")
    rng = np.random.default_rng(seed)
    corpus = Corpus(cfg, seed)
    photos = corpus.photos
    for class_name in cfg.classes:
        for style in cfg.styles:
            count = cfg.photo_per_cell if style == "photo" and cfg.photo_per_cell is not None else cfg.per_cell
            for _ in range(count):
                photos.append(_photo(rng, len(photos), cfg, class_name, style, int(rng.integers(0, 2 ** 31))))
    if photos:
        _plant(corpus, rng)
    return corpus


def _plant(corpus: Corpus, rng: np.random.Generator) -> None:
    cfg, photos = corpus.config, corpus.photos
    # plants and their sources must be found by a default search: open license, safe, content type photo
    originals = [p for p in photos if p.license != "0" and p.safety == 1 and p.content_type == 1] or list(photos)
    picks = rng.choice(len(originals), size=min(len(originals), cfg.plants * 8 + cfg.deleted + cfg.noai),
                       replace=False)
    it = iter(int(i) for i in picks)
    open_license = ("4", "5", "9", "10")
    findable = {"safety": 1, "content_type": 1}
    for kind in ("exact", "reencode", "resize", "crop", "mirror"):
        for _ in range(cfg.plants):
            src = originals[next(it, 0)]
            twin = _photo(rng, len(photos), cfg, src.class_name, src.style, src.seed)
            photos.append(replace(twin, **findable, license=open_license[int(rng.integers(0, 4))], variant=kind, plant=kind, plant_of=src.id, width=src.width,
                                  height=src.height, quality=src.quality if kind == "exact" else 60))
    for kind in ("black", "tiny"):
        for _ in range(cfg.plants):
            src = originals[next(it, 0)]
            odd = _photo(rng, len(photos), cfg, src.class_name, src.style, src.seed)
            photos.append(replace(odd, **findable, plant=kind, license=open_license[int(rng.integers(0, 4))],
                                  **({"width": 24, "height": 18} if kind == "tiny" else {})))
    for i in range(cfg.plants):
        src = originals[next(it, 0)]
        name = f"overlap_{i:03d}.jpg"
        photos.append(replace(_photo(rng, len(photos), cfg, src.class_name, "photo", int(rng.integers(0, 2 ** 31))),
                              **findable, plant="reference", plant_of=name, license=open_license[int(rng.integers(0, 4))], variant="reencode", quality=75))
        corpus.reference.append({"name": name, "class_name": src.class_name, "style": "photo",
                                 "seed": photos[-1].seed, "variant": None})
    for i in range(cfg.reference_size):
        class_name = cfg.classes[i % len(cfg.classes)]
        corpus.reference.append({"name": f"ref_{i:03d}.jpg", "class_name": class_name, "style": "photo",
                                 "seed": int(rng.integers(0, 2 ** 31)), "variant": None})
    for flag, count in (("deleted", cfg.deleted), ("noai", cfg.noai)):
        for _ in range(count):
            index = next(it, None)
            if index is not None:
                position = photos.index(originals[index])
                photos[position] = replace(photos[position], **{flag: True})
    ordinary = [i for i, p in enumerate(photos) if p.plant is None and not p.deleted and not p.noai]
    for position in ordinary[-cfg.small_originals:] if cfg.small_originals else ():  # no extra random draws
        photos[position] = replace(photos[position], width=500, height=374)


REFERENCE_SIZE = (224, 168)


def image_bytes(photo: PhotoSpec, size: tuple[int, int]) -> bytes:
    """The JPEG the image host serves for ``photo`` at ``size`` (before any injected fault)."""
    if photo.plant == "black":
        return R.encode(R.black(size), quality=photo.quality)
    if photo.plant == "reference":  # the reference image itself, resized to the requested size
        img = R.render(photo.class_name, photo.style, photo.seed, REFERENCE_SIZE)
        img = img if img.size == size else img.resize(size, R.Image.BILINEAR)
    else:
        img = R.variant(R.render(photo.class_name, photo.style, photo.seed, size), photo.variant)
    return R.encode(img, quality=photo.quality)


def write_reference_set(corpus: Corpus, folder: Path) -> list[Path]:
    """Write the corpus's reference set (the 'ImageNet val' the benchmark must not overlap) as JPEGs.

    Files ``overlap_*.jpg`` are re-encoded in the corpus as photos with ``plant == 'reference'``.
    """
    folder = Path(folder)
    out = []
    for entry in corpus.reference:
        class_folder = folder / entry["class_name"]
        class_folder.mkdir(parents=True, exist_ok=True)
        img = R.render(entry["class_name"], entry["style"], entry["seed"], REFERENCE_SIZE)
        path = class_folder / entry["name"]
        path.write_bytes(R.encode(img, quality=95))
        out.append(path)
    return out


def with_bursty_uploads(corpus: Corpus, rng: np.random.Generator, *, bursts: int = 6, share: float = 0.7,
                        burst_s: int = 3600) -> Corpus:
    """The same photos with upload dates bunched the way real uploads are: ``share`` of them fall into
    ``bursts`` short bursts of ``burst_s`` seconds (an event, a bulk upload), so many photos share an
    upload second, and the rest stay spread over the whole range. Searches over such a catalogue hit the
    cap in a few narrow windows, which is what a scraper's paging has to cope with."""
    cfg = corpus.config
    starts = rng.integers(cfg.first_upload, cfg.last_upload - burst_s, size=bursts)
    photos = []
    for photo in corpus.photos:
        if rng.random() < share:
            uploaded = int(starts[int(rng.integers(0, bursts))] + rng.integers(0, burst_s))
            taken = dt.datetime.fromtimestamp(uploaded - int(rng.integers(0, 30 * 86400)), dt.timezone.utc)
            photo = replace(photo, dateupload=uploaded, datetaken=taken.strftime("%Y-%m-%d %H:%M:%S"))
        photos.append(photo)
    return Corpus(cfg, corpus.seed, photos, list(corpus.reference))
