"""What every request of the annotation app needs, kept in ``app.extensions['curate']``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from annotate_ui.config import AnnotateConfig
from annotate_ui.security import ImageSigner, LoginLimiter, WindowCounter


@dataclass
class AppState:
    """The engine, image store, configuration and request guards of one app."""

    engine: Any
    store: Any
    cfg: AnnotateConfig
    signer: ImageSigner
    limiter: LoginLimiter
    platform_secret: str | None = None   # verifies /task links (HMAC per worker)
    leases: WindowCounter | None = None  # new /task leases per client address


def state() -> AppState:
    """The current app's state (inside a request or app context)."""
    return current_app.extensions["curate"]
