"""Hostile configs, databases and files: each ends with one clear line, a non-zero exit and nothing changed.

Every case runs the real ``curate`` CLI in-process with ``catch_exceptions=False``, so a traceback would
fail the test instead of being counted as an error exit.
"""

from __future__ import annotations

import errno
import hashlib
import sqlite3
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from curation.cli import root
from tests.conftest import make_image_bytes
from tests.curation.specs import photos_spec


def _snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (a SQLite database by its rows, since a checkpoint moves its
    pages between files without changing them), except lock files and SQLite's WAL/shared-memory files."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not rel.startswith(".locks/") and not rel.endswith(("-wal", "-shm")):
            out[rel] = _sqlite_rows(path) if path.suffix == ".sqlite" else \
                hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _sqlite_rows(path: Path) -> str:
    """The sha256 of a database's SQL dump, or of its bytes where it cannot be read (a damaged file)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    except sqlite3.DatabaseError:
        return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(ws: Path, *args) -> object:
    return CliRunner().invoke(root, ["--workspace", str(ws), *map(str, args)], catch_exceptions=False)


def _assert_one_line_refusal(result, expect: str) -> None:
    assert result.exit_code != 0, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert expect.lower() in lines[0].lower(), lines[0]


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Path:
    """A workspace with its SQLite database inside it and three imported images."""
    monkeypatch.delenv("CURATE_DB", raising=False)
    monkeypatch.delenv("CURATE_WORKSPACE", raising=False)
    root_dir = tmp_path / "ws"
    assert CliRunner().invoke(root, ["init", str(root_dir)], catch_exceptions=False).exit_code == 0
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"{i}.jpg").write_bytes(make_image_bytes(i))
    assert _run(root_dir, "import", photos).exit_code == 0
    return root_dir


def _toml(text: bytes) -> Callable[[Path], None]:
    return lambda ws: (ws / "curate.toml").write_bytes(text)


def _sql(*statements: str) -> Callable[[Path], None]:
    def apply(ws: Path) -> None:
        with sqlite3.connect(ws / "curate.sqlite") as conn:
            for statement in statements:
                conn.execute(statement)
    return apply


def _overwrite(offset: int, size: int) -> Callable[[Path], None]:
    def apply(ws: Path) -> None:
        with sqlite3.connect(ws / "curate.sqlite") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with open(ws / "curate.sqlite", "r+b") as fh:
            fh.seek(offset)
            fh.write(b"\xa5" * size)
    return apply


CASES = {
    "curate-is-a-number": (_toml(b"curate = 5\n"), ["status"], "must be a table"),
    "config-not-utf8": (_toml(b'[curate]\nstore_dir = "st\xff\xfeore"\n'), ["status"], "not UTF-8"),
    "store-dir-number": (_toml(b"[curate]\nstore_dir = 5\n"), ["status"], "store_dir must be a text value"),
    "max-bytes-text": (_toml(b'[curate]\nmax_image_bytes = "lots"\n'), ["status"], "must be an integer"),
    "max-bytes-negative": (_toml(b"[curate]\nmax_image_bytes = -1\n"), ["status"], "must be positive"),
    "download-section-bad": (_toml(b'[curate]\n[download]\nplaceholder_sha256 = "abc"\n'), ["download"],
                             "placeholder_sha256"),
    "header-overwritten": (_overwrite(0, 100), ["status"], "damaged"),
    "pages-overwritten": (_overwrite(4096, 4096 * 6), ["filter"], "damaged"),
    "newer-revision": (_sql("UPDATE alembic_version SET version_num = 'ffff9999'"), ["status"], "newer than"),
    "newer-revision-upgrade": (_sql("UPDATE alembic_version SET version_num = 'ffff9999'"), ["db", "upgrade"],
                               "newer than"),
    "older-revision": (_sql("UPDATE alembic_version SET version_num = '0002_ui_accounts'"), ["status"],
                       "older schema"),
    "two-revisions": (_sql("INSERT INTO alembic_version VALUES ('0002_ui_accounts')"), ["status"],
                      "several schema revisions"),
    "no-alembic-version": (_sql("DROP TABLE alembic_version"), ["db", "upgrade"], "no alembic_version"),
    "no-alembic-version-status": (_sql("DROP TABLE alembic_version"), ["status"], "no alembic_version"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_workspace_gives_one_line_and_changes_nothing(ws, name):
    damage, args, expect = CASES[name]
    damage(ws)
    before = _snapshot(ws)
    result = _run(ws, *args)
    _assert_one_line_refusal(result, expect)
    assert _snapshot(ws) == before


def test_database_connection_lost_mid_stage_is_one_line(ws, monkeypatch):
    """A PostgreSQL server killed mid-stage surfaces as OperationalError from whatever query runs next."""
    from sqlalchemy.exc import OperationalError

    import curation.ingest.folder as folder

    def lost(*_args, **_kwargs):
        raise OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly\n"
                                                            "\tThis probably means the server terminated abnormally"))

    monkeypatch.setattr(folder, "import_files", lost)
    photos = ws.parent / "more"
    photos.mkdir()
    (photos / "x.jpg").write_bytes(make_image_bytes(9))
    before = _snapshot(ws)
    _assert_one_line_refusal(_run(ws, "import", photos), "lost the database connection")
    assert _snapshot(ws) == before


def test_sums_file_with_a_non_utf8_byte_is_one_line(tmp_path):
    export = tmp_path / "e"
    export.mkdir()
    (export / "SHA256SUMS").write_bytes(b"\xff" * 64 + b"  a.jpg\n")
    before = _snapshot(export)
    result = CliRunner().invoke(root, ["verify", str(export)], catch_exceptions=False)
    _assert_one_line_refusal(result, "not UTF-8")
    assert _snapshot(export) == before


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_export_onto_a_full_or_read_only_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, code):
    """The disk error comes from the copy of the first image (as a full disk or read-only mount gives it)."""
    import splits.copying as copying

    ws = _workspace_with_split(tmp_path, monkeypatch)

    def fail(src, dest):
        raise OSError(code, "simulated", dest)

    monkeypatch.setattr(copying, "_copy_hashing", fail)
    before = _snapshot(ws)
    result = _run(ws, "export", "photos", "--out", tmp_path / "out")
    _assert_one_line_refusal(result, "disk is full" if code == errno.ENOSPC else "read-only")
    assert _snapshot(ws) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "spec.toml", "ws"]  # no partial folder
    monkeypatch.undo()
    monkeypatch.delenv("CURATE_DB", raising=False)
    assert _run(ws, "export", "photos", "--out", tmp_path / "out").exit_code == 0  # the rerun works


def _workspace_with_split(tmp_path, monkeypatch, where: str = "{}", build: bool = True) -> Path:
    monkeypatch.delenv("CURATE_DB", raising=False)
    monkeypatch.delenv("CURATE_WORKSPACE", raising=False)
    ws = tmp_path / "ws"
    assert CliRunner().invoke(root, ["init", str(ws)], catch_exceptions=False).exit_code == 0
    photos = tmp_path / "photos"
    for i, cls in enumerate(["n01443537", "n01443537", "n01484850", "n01484850"]):
        (photos / cls).mkdir(parents=True, exist_ok=True)
        (photos / cls / f"{i}.jpg").write_bytes(make_image_bytes(i))
    assert _run(ws, "import", photos, "--label-from-folder").exit_code == 0
    (tmp_path / "spec.toml").write_text(photos_spec(where))
    if build:
        result = _run(ws, "splits", "build", tmp_path / "spec.toml")
        assert result.exit_code == 0, result.output
    return ws


@pytest.mark.parametrize("where, expect", [
    ('{ class_key = "n01443537" }', "lacks column(s) class_key"),
    ('{ source = "flickr" }', "source = 'flickr' matches no image"),
])
def test_a_spec_naming_an_unknown_column_or_value_is_refused(tmp_path, monkeypatch, where, expect):
    ws = _workspace_with_split(tmp_path, monkeypatch, where, build=False)
    before = _snapshot(ws)
    _assert_one_line_refusal(_run(ws, "splits", "build", tmp_path / "spec.toml"), expect)
    assert _snapshot(ws) == before


def test_weights_holding_a_pickled_list_are_refused(tmp_path):
    import torch

    from curation.errors import CurateError
    from models.registry import read_weights

    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CurateError, match="holds a list, not a state dict"):
        read_weights(path)


def test_import_counts_and_reports_symlinks_and_dot_names(ws, tmp_path):
    photos = tmp_path / "odd"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(make_image_bytes(20))
    (photos / "..sneaky.jpg").write_bytes(make_image_bytes(21))
    (photos / "link.jpg").symlink_to(photos / "a.jpg")
    (photos / "linked-dir").symlink_to(tmp_path / "photos", target_is_directory=True)
    result = _run(ws, "import", photos)
    assert result.exit_code == 0
    assert "imported 1 new" in result.output
    assert "skipped 3 not imported: hidden name (starts with '.'): 1, symlink: 2" in result.output


def test_a_value_no_image_has_beside_ones_that_match_builds_with_a_warning(tmp_path, monkeypatch, caplog):
    ws = _workspace_with_split(tmp_path, monkeypatch, '{ source = ["folder", "flikr"] }', build=False)
    result = _run(ws, "splits", "build", tmp_path / "spec.toml")
    assert result.exit_code == 0, result.output
    assert "train': source = 'flikr' matches no image; values present: folder" in caplog.text
