"""Settings of the labeling app: the ``[annotate]`` table of curate.toml over these defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from curation.errors import CurateError


DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class AnnotateConfig:
    """Everything the app, HIT creation and aggregation can be tuned with."""

    candidates_per_hit: int = 42
    gold_positives_per_hit: int = 3
    gold_negatives_per_hit: int = 3
    workers_per_image: int = 5
    examples_per_class: int = 3          # gold positives shown as examples, never hidden in a HIT
    qualification_positives: int = 8     # drawn per worker from the class's whole gold pool
    qualification_negatives: int = 8
    qualification_pass: float = 0.85     # share right: a random guesser passes with p = 137/65536 (0.21%)
    lease_minutes: float = 30.0
    min_worker_accuracy: float = 0.7     # gold accuracy under which a worker is flagged
    min_gold_answers: int = 6            # gold answers seen before a worker can be flagged
    reopen_flagged: bool = True          # a flagged worker's assignments return to the pool
    min_frequency: float = 0.7
    min_votes: int = 5
    min_posterior: float = 0.9
    review_method: str = "frequency"     # which aggregated_labels rows feed the review queue
    reviews_per_image: int = 1
    doubt_threshold: float = 0.8         # admin page: images whose crowdlab consensus quality lies below
    login_attempts: int = 5              # failed logins per (address, user) per window
    login_attempts_per_account: int = 20  # failed logins per account over all addresses per window
    login_window_s: float = 300.0
    trusted_proxies: int = 0             # reverse proxies in front whose X-Forwarded-For/-Proto are trusted
    external_entry: bool = False         # /task (a crowd platform's ExternalQuestion) on; needs platform_secret
    platform_hosts: str = "www.mturk.com,workersandbox.mturk.com"  # turkSubmitTo, framing and form targets
    external_leases_per_window: int = 10  # new /task leases per client address per window
    external_window_s: float = 3600.0
    image_url_max_age_s: int = 24 * 3600
    cookie_samesite: str = "Lax"         # "None" (with HTTPS) when a crowd platform frames the app
    cookie_secure: bool = False
    max_form_items: int = 500
    base_url: str = ""                   # how people reach the app, e.g. https://label.example (for links);
                                         # unset: the address a request came in on (behind a proxy: set it)

    def __post_init__(self) -> None:
        if self.cookie_samesite not in ("Lax", "Strict", "None"):
            raise CurateError("annotate.cookie_samesite must be Lax, Strict or None")
        for name in ("qualification_pass", "min_worker_accuracy", "min_frequency", "min_posterior",
                     "doubt_threshold"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise CurateError(f"annotate.{name} must lie between 0 and 1")
        if self.workers_per_image < 1 or self.candidates_per_hit < 1:
            raise CurateError("annotate.workers_per_image and candidates_per_hit must be at least 1")
        if self.trusted_proxies < 0 or self.external_leases_per_window < 0:
            raise CurateError("annotate.trusted_proxies and external_leases_per_window must not be negative")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise CurateError(f"annotate.base_url must start with http:// or https://, got {self.base_url!r}")
        for host in self.platform_host_list:
            if not all(ch.isalnum() or ch in ".-:" for ch in host):
                raise CurateError(f"annotate.platform_hosts: {host!r} is not a host name; "
                                  "give comma-separated names such as www.mturk.com")

    @property
    def public_base(self) -> str:
        """``base_url`` without a trailing slash, or the local default address when it is unset."""
        return (self.base_url or DEFAULT_BASE_URL).rstrip("/")

    @property
    def platform_host_list(self) -> tuple[str, ...]:
        """The crowd platform hosts (lower case) allowed as submit targets and frame parents."""
        return tuple(h.strip().lower() for h in self.platform_hosts.split(",") if h.strip())


def load_config(section: Mapping[str, Any] | None = None, **overrides: Any) -> AnnotateConfig:
    """Defaults < ``section`` (curate.toml ``[annotate]``) < ``overrides``; unknown keys are refused."""
    names = {f.name: f for f in dataclasses.fields(AnnotateConfig)}
    values = {**dict(section or {}), **{k: v for k, v in overrides.items() if v is not None}}
    unknown = set(values) - set(names)
    if unknown:
        raise CurateError(f"unknown [annotate] setting(s): {', '.join(sorted(unknown))}; "
                          f"valid: {', '.join(sorted(names))}")
    cast: dict[str, Any] = {}
    for key, value in values.items():
        kind = type(names[key].default)
        try:
            if kind is bool and isinstance(value, str):
                cast[key] = value.strip().lower() in ("1", "true", "yes", "on")
            else:
                cast[key] = value if isinstance(value, kind) else kind(value)
        except (TypeError, ValueError) as exc:
            raise CurateError(f"annotate.{key} must be a {kind.__name__}, got {value!r}") from exc
    return AnnotateConfig(**cast)


def config_from_settings(settings: Any, **overrides: Any) -> AnnotateConfig:
    return load_config(settings.section("annotate") if settings is not None else None, **overrides)
