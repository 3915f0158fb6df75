"""Filter thresholds: defaults < ``[filter]`` in curate.toml < command line."""

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


def load_params(settings: Any | None = None, overrides: Mapping[str, Any] | None = None) -> FilterParams:
    """Defaults, then the workspace's ``[filter]`` table and pixel cap, then ``overrides`` (None = unset)."""
    names = {f.name: f for f in dataclasses.fields(FilterParams)}
    values: dict[str, Any] = {}
    if settings is not None:
        values["max_pixels"] = settings.max_image_pixels
        section = dict(settings.section("filter"))
        unknown = set(section) - set(names)
        if unknown:
            raise CurateError(f"curate.toml [filter]: unknown key(s) {', '.join(sorted(unknown))}; "
                              f"valid keys are {', '.join(sorted(names))}")
        values.update(section)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        typed = {k: type(getattr(FilterParams, k))(v) for k, v in values.items()}
    except (TypeError, ValueError) as exc:
        raise CurateError(f"invalid filter setting: {exc}") from exc
    return FilterParams(**typed).validate()
