"""Workspaces: a folder holding curate.toml, the SQLite database and the image store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from curation.config import CONFIG_NAME, SECRETS_NAME, Settings, load_settings
from curation.errors import WorkspaceNotFound

DEFAULT_CONFIG = """\
# curate workspace settings. Precedence: defaults < this file < CURATE_* environment < command line.
# Secrets (Flickr key and secret, the app's secret key) go in the untracked secrets.toml or the
# environment (FLICKR_API_KEY, FLICKR_API_SECRET, CURATE_SECRET_KEY), never here.

[curate]
store_dir = "store"
# db_url = "postgresql+psycopg://user@localhost/curate"   # default: curate.sqlite in this folder
"""


def find_workspace(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """The workspace from ``--workspace``, ``CURATE_WORKSPACE``, or cwd and its parents."""
    candidate = explicit or os.environ.get("CURATE_WORKSPACE")
    if candidate:
        path = Path(candidate).expanduser().resolve()
        if (path / CONFIG_NAME).exists():
            return path
        raise WorkspaceNotFound(
            f"{path} is not a curate workspace (no {CONFIG_NAME}). "
            f"Create one with:  curate init {candidate}")
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).exists():
            return folder
    raise WorkspaceNotFound(
        f"no curate workspace in {start} or its parents. Create one with:  curate init DIR  "
        f"then run commands inside DIR, or pass --workspace DIR (or set CURATE_WORKSPACE).")


def create_workspace(path: Path) -> Path:
    """Write curate.toml, the store folder and a .gitignore; idempotent."""
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    config = path / CONFIG_NAME
    if not config.exists():
        config.write_text(DEFAULT_CONFIG)
    (path / "store").mkdir(exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text(f"{SECRETS_NAME}\ncurate.sqlite*\nstore/\n.locks/\n")
    return path


def open_settings(workspace: str | os.PathLike[str] | None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    return load_settings(find_workspace(workspace), overrides)
