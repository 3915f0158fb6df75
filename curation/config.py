"""Settings: defaults < curate.toml < CURATE_* environment < command line.

Settings are a frozen dataclass; sections of ``curate.toml`` map to its fields. Secrets (the Flickr
key and secret, the Flask secret key) never live in ``curate.toml``: they come from the environment
or from the untracked ``secrets.toml`` in the workspace (see :func:`load_secret`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from curation.errors import CurateError

CONFIG_NAME = "curate.toml"
SECRETS_NAME = "secrets.toml"
DB_NAME = "curate.sqlite"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one workspace."""

    root: Path
    db_url: str = ""
    store_dir: str = "store"
    default_license: str = "unknown"
    max_image_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 178_956_970
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def store_path(self) -> Path | str:
        """The image store: a folder (``store_dir`` relative to the workspace) or an object-store URL."""
        from curation.objstore import is_url

        if is_url(self.store_dir):
            return self.store_dir.rstrip("/")
        return (self.root / self.store_dir).resolve()

    def store(self):
        """The workspace's :class:`~curation.store.ImageStore` (``[store]`` in curate.toml: endpoint, region)."""
        from curation.store import open_store

        return open_store(self.store_path, self.section("store"))

    @property
    def database_url(self) -> str:
        return self.db_url or sqlite_url(self.root / DB_NAME)

    def section(self, name: str) -> Mapping[str, Any]:
        """A table of curate.toml that belongs to one stage (e.g. ``scrape``, ``filter``)."""
        value = self.extra.get(name, {})
        return value if isinstance(value, Mapping) else {}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


_ENV_FIELDS = {
    "CURATE_DB": "db_url",
    "CURATE_STORE_DIR": "store_dir",
    "CURATE_DEFAULT_LICENSE": "default_license",
    "CURATE_MAX_IMAGE_BYTES": "max_image_bytes",
    "CURATE_MAX_IMAGE_PIXELS": "max_image_pixels",
}


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CurateError(f"{path} is not valid TOML ({exc}); fix the file and run the command again") from exc
    except UnicodeDecodeError as exc:
        raise CurateError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and run the "
                          "command again") from exc


def load_settings(root: Path, overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve the settings of the workspace at ``root``."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    config_file = root / CONFIG_NAME
    if config_file.exists():
        data = read_toml(config_file)
        section = data.pop("curate", {})
        if not isinstance(section, dict):
            raise CurateError(f"{config_file}: 'curate' must be a table ([curate] with key = value lines), "
                              f"not {type(section).__name__}; see `curate init` for an example")
        values.update(section)
        extra = data
    names = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = set(values) - set(names)
    if unknown:
        raise CurateError(
            f"{config_file}: unknown key(s) in [curate]: {', '.join(sorted(unknown))}; "
            f"valid keys are {', '.join(sorted(n for n in names if n not in ('root', 'extra')))}")
    for env_name, field_name in _ENV_FIELDS.items():
        if environ.get(env_name):
            values[field_name] = environ[env_name]
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    for key in ("max_image_bytes", "max_image_pixels"):
        if key in values:
            try:
                if isinstance(values[key], (bool, float)):
                    raise TypeError(key)
                values[key] = int(values[key])
            except (TypeError, ValueError) as exc:
                raise CurateError(f"setting {key} must be an integer, got {values[key]!r}") from exc
    for key in ("db_url", "store_dir", "default_license"):
        if key in values and not isinstance(values[key], str):
            raise CurateError(f"setting {key} must be a text value in quotes, got {values[key]!r}; "
                              f"fix {config_file} (or the CURATE_* variable)")
    for key in ("max_image_bytes", "max_image_pixels"):
        if values.get(key, 1) <= 0:
            raise CurateError(f"setting {key} must be positive, got {values[key]}")
    settings = Settings(root=root.resolve(), extra=extra, **values)
    _check_store(settings, environ)
    return settings


def _check_store(settings: Settings, environ: Mapping[str, str]) -> None:
    """Refuse credentials in ``[store]``; make its endpoint visible to workers (an environment variable,
    which local pools inherit and Ray tasks receive through their runtime environment)."""
    from curation.objstore import check_no_secrets

    section = settings.section("store")
    check_no_secrets(section, settings.store_dir)
    endpoint = section.get("endpoint_url")
    if endpoint and environ is os.environ and not environ.get("CURATE_STORE_ENDPOINT"):
        os.environ["CURATE_STORE_ENDPOINT"] = str(endpoint)


def load_secret(settings: Settings, name: str, env_var: str) -> str | None:
    """A secret from the environment, else from the workspace's untracked secrets.toml."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    path = settings.root / SECRETS_NAME
    if path.exists():
        value = read_toml(path).get(name)
        return str(value) if value is not None else None
    return None
