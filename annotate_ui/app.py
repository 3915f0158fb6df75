"""The Flask app factory: ``create_app(settings, engine)``, one blueprint per feature.

Blueprints: ``worker`` (invites, qualification, HITs, ExternalQuestion), ``review`` (expert pass),
``admin`` (dashboard, CSV export), ``images`` (signed image URLs), ``auth`` (reviewer/admin login).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from annotate_ui.config import AnnotateConfig, config_from_settings
from annotate_ui.security import ImageSigner, LoginLimiter, WindowCounter
from annotate_ui.state import AppState
from curation.errors import CurateError

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 2 * 1024 * 1024


def resolve_platform_secret(settings: Any) -> str | None:
    from curation.config import load_secret

    return load_secret(settings, "platform_secret", "CURATE_PLATFORM_SECRET") if settings is not None else None


def resolve_secret_key(settings: Any) -> str | None:
    from curation.config import load_secret

    return load_secret(settings, "secret_key", "CURATE_SECRET_KEY") if settings is not None else None


def create_app(settings: Any = None, engine: Any = None, *, config: AnnotateConfig | None = None,
               store_path: Path | None = None, secret_key: str | None = None, testing: bool = False,
               platform_secret: str | None = None):
    """A configured Flask app on ``engine`` (default: the settings' database) and the settings' store.

    ``/task`` (a crowd platform's entry) is on only with ``external_entry`` and a platform secret
    (``CURATE_PLATFORM_SECRET`` or secrets.toml ``platform_secret``).
    """
    from flask import Flask

    from curation.store import ImageStore

    if settings is None and (engine is None or store_path is None):
        raise ValueError("create_app needs settings, or both an engine and a store_path")
    cfg = config or config_from_settings(settings)
    platform_secret = platform_secret or resolve_platform_secret(settings)
    if cfg.external_entry and not platform_secret:
        raise CurateError("annotate.external_entry needs a platform secret: set CURATE_PLATFORM_SECRET or "
                          "platform_secret in secrets.toml (it signs the per-worker /task links)")
    key = secret_key or resolve_secret_key(settings)
    if not key:
        key = secrets.token_urlsafe(32)
        log.warning("no secret key configured (CURATE_SECRET_KEY or secrets.toml): using a random one; "
                    "sessions and image links end when the server stops")
    if engine is None:
        from curation.db.session import connect

        engine = connect(settings.database_url)
    store = ImageStore(store_path or settings.store_path)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=key, TESTING=testing, MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
                      SESSION_COOKIE_NAME="curate_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE=cfg.cookie_samesite,
                      SESSION_COOKIE_SECURE=cfg.cookie_secure or cfg.cookie_samesite == "None",
                      SEND_FILE_MAX_AGE_DEFAULT=3600)
    app.extensions["curate"] = AppState(engine, store, cfg, ImageSigner(key, cfg.image_url_max_age_s),
                                        LoginLimiter(cfg.login_attempts, cfg.login_window_s,
                                                     cfg.login_attempts_per_account),
                                        platform_secret, WindowCounter(cfg.external_window_s))
    if cfg.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = cfg.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)
    _register(app)
    return app


def _register(app) -> None:
    from annotate_ui import db
    from annotate_ui.security import check_csrf, csrf_token
    from annotate_ui.views import admin, auth, images, manage, review, worker
    from annotate_ui.views.common import error_page, finish_response

    db.init_app(app)
    app.before_request(check_csrf)
    app.after_request(finish_response)
    app.jinja_env.globals["csrf_token"] = csrf_token
    for code in (400, 403, 404, 405, 409, 410, 413, 429, 500):
        app.register_error_handler(code, error_page)
    for module in (worker, review, admin, manage, images, auth):
        app.register_blueprint(module.bp)
