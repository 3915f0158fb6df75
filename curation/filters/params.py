"""Filter thresholds: defaults < the last run's < ``[filter]`` in curate.toml < command line.

A rerun without ``--threshold`` keeps the thresholds the decisions on record were made with, so
``curate filter --rerun`` never silently goes back to the defaults; :func:`describe` says which
value came from where."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from curation.errors import CurateError


@dataclass(frozen=True)
class FilterParams:
    """Every threshold the filters use; recorded with each decision."""

    threshold: int = 10  # pHash Hamming radius for near and mirrored duplicates and contamination
    dhash_threshold: int = 16  # dHash radius: the second opinion a pHash match must also pass
    max_mean_diff: float = 10.0  # third opinion: a copy's mean brightness (0-255) is this close
    mirror: bool = True  # also look for horizontally mirrored copies
    min_side: int = 64  # smaller images are "tiny"
    max_aspect: float = 4.0  # longer side / shorter side
    black_mean: float = 12.0  # grayscale mean (0-255) below this is pitch-black
    flat_std: float = 1.5  # largest per-channel deviation below this is near-uniform (sketches measure ~2-4)
    max_pixels: int = 178_956_970  # header pixel count above this is a decompression bomb
    reject_animated: bool = True

    def quality(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("min_side", "max_aspect", "black_mean", "flat_std", "max_pixels",
                                              "reject_animated")}

    def search(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "dhash_threshold": self.dhash_threshold,
                "max_mean_diff": self.max_mean_diff, "mirror": self.mirror}

    def validate(self) -> "FilterParams":
        if not 0 <= self.threshold < 64 or not 0 <= self.dhash_threshold <= 64:
            raise CurateError(f"thresholds are Hamming distances between 0 and 63; got --threshold "
                              f"{self.threshold} and --dhash-threshold {self.dhash_threshold}")
        if self.min_side < 1 or self.max_aspect < 1:
            raise CurateError("--min-side must be at least 1 and --max-aspect at least 1.0")
        return self


def last_used(session: Any) -> dict[str, Any]:
    """The thresholds the current decisions were made with (newest decision of each filter)."""
    from sqlalchemy import select

    from curation.db.models import FilterDecision

    names = {f.name for f in dataclasses.fields(FilterParams)}
    out: dict[str, Any] = {}
    for name in ("quality", "contamination", "duplicate"):
        params = session.scalar(select(FilterDecision.params).where(
            FilterDecision.filter == name, FilterDecision.current.is_(True))
            .order_by(FilterDecision.id.desc()).limit(1))
        out.update({k: v for k, v in (params or {}).items() if k in names and k != "max_pixels"})
    return out


def _layers(settings: Any | None, overrides: Mapping[str, Any] | None,
            previous: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    names = {f.name for f in dataclasses.fields(FilterParams)}
    section: dict[str, Any] = {}
    pixels: dict[str, Any] = {}
    if settings is not None:
        pixels["max_pixels"] = settings.max_image_pixels
        section = dict(settings.section("filter"))
        unknown = set(section) - names
        if unknown:
            raise CurateError(f"curate.toml [filter]: unknown key(s) {', '.join(sorted(unknown))}; "
                              f"valid keys are {', '.join(sorted(names))}")
    return [("last run", dict(previous or {})), ("workspace", pixels), ("curate.toml", section),
            ("command line", {k: v for k, v in (overrides or {}).items() if v is not None})]


def load_params(settings: Any | None = None, overrides: Mapping[str, Any] | None = None,
                previous: Mapping[str, Any] | None = None) -> FilterParams:
    """Defaults, then ``previous`` (the last run's), the workspace's ``[filter]`` table and pixel cap,
    then ``overrides`` (None = unset)."""
    values: dict[str, Any] = {}
    for _, layer in _layers(settings, overrides, previous):
        values.update(layer)
    try:
        typed = {k: type(getattr(FilterParams, k))(v) for k, v in values.items()}
    except (TypeError, ValueError) as exc:
        raise CurateError(f"invalid filter setting: {exc}") from exc
    return FilterParams(**typed).validate()


def describe(params: FilterParams, settings: Any | None = None, overrides: Mapping[str, Any] | None = None,
             previous: Mapping[str, Any] | None = None) -> str:
    """One line: each search threshold and where its value came from."""
    origin = {k: "default" for k in params.search()}
    for name, layer in _layers(settings, overrides, previous):
        origin.update({k: name for k in layer if k in origin})
    return "thresholds: " + ", ".join(f"{k}={v} ({origin[k]})" for k, v in params.search().items())
