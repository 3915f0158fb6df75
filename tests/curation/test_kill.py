"""SIGKILL at several moments of import (the store) and export; the rerun finishes and nothing is lost."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import make_image_bytes
from tests.curation.specs import photos_spec
from tests.killing import kill_when, run, start

pytestmark = pytest.mark.slow


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.fixture
def ws(tmp_path) -> Path:
    root = tmp_path / "ws"
    assert run(["init", root]).returncode == 0
    return root


def _photos(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"{i:03d}.jpg").write_bytes(make_image_bytes(i, (96, 72)))
    return folder


@pytest.mark.parametrize("moment", [1, 20, 45])
def test_import_killed_at_a_moment_resumes_to_the_same_store(ws, tmp_path, moment):
    photos = _photos(tmp_path / "photos", 60)
    db = ws / "curate.sqlite"
    proc = start(["--workspace", ws, "import", photos, "--batch", "1"])
    kill_when(proc, lambda: _count(db, "SELECT count(*) FROM images") >= moment)
    store = ws / "store"
    (store / f".put-{proc.pid}-k1").write_bytes(b"half an image")  # what a kill inside put() leaves
    (store / "ab" / "cd").mkdir(parents=True, exist_ok=True)
    (store / "ab" / "cd" / ".put-x1y2").write_bytes(b"half")  # an old name without a pid, two hours old
    os.utime(store / "ab" / "cd" / ".put-x1y2", (time.time() - 7200, time.time() - 7200))
    live = store / f".put-{os.getpid()}-w1"  # a live writer's file (this test process): never removed
    live.write_bytes(b"in progress")
    verify = run(["--workspace", ws, "store", "verify"])
    assert f"temporary .put-{proc.pid}-k1" in verify.stdout and "temporary ab/cd/.put-x1y2" in verify.stdout
    leftovers = verify.stdout.count("\ntemporary ") + verify.stdout.startswith("temporary ")
    assert leftovers >= 3  # ours, and any the kill left
    again = run(["--workspace", ws, "import", photos])
    assert again.returncode == 0, again.stderr
    assert f"removed {leftovers - 1} temporary file(s)" in again.stderr and live.exists()
    live.unlink()
    assert _count(db, "SELECT count(*) FROM images") == 60
    assert _count(db, "SELECT count(*) FROM source_records") == 60
    assert _count(db, "SELECT count(DISTINCT source_id) FROM source_records") == 60
    verify = run(["--workspace", ws, "store", "verify"])
    assert verify.returncode == 0 and "0 missing, 0 corrupted, 0 files not in the database, 0 temporary" in verify.stdout
    assert not list((ws / "store").rglob(".put-*"))


KILL_AFTER_EXPORT = """
import os, signal, sys
import splits.export as export
real = export.export_split
def export_then_die(*args, **kwargs):
    summary = real(*args, **kwargs)  # the folder is renamed into place; the database row is not committed
    os.kill(os.getpid(), signal.SIGKILL)
export.export_split = export_then_die
from curation.cli import main
main(sys.argv[1:])
"""


def _split_workspace(ws: Path, tmp_path: Path, n: int = 40) -> None:
    photos = tmp_path / "photos"
    for i in range(n):
        cls = ("n01443537", "n01484850")[i % 2]
        (photos / cls).mkdir(parents=True, exist_ok=True)
        (photos / cls / f"{i}.jpg").write_bytes(make_image_bytes(i, (96, 72)))
    assert run(["--workspace", ws, "import", photos, "--label-from-folder"]).returncode == 0
    (tmp_path / "spec.toml").write_text(photos_spec())
    built = run(["--workspace", ws, "splits", "build", tmp_path / "spec.toml"])
    assert built.returncode == 0, built.stderr


def _finish_and_check(ws: Path, out: Path) -> None:
    again = run(["--workspace", ws, "export", "photos", "--out", out])
    assert again.returncode == 0, again.stderr + again.stdout
    assert "exported photos v1" in again.stdout
    assert _count(ws / "curate.sqlite", "SELECT count(*) FROM exports") == 1
    assert run(["verify", out]).returncode == 0
    assert not list(out.parent.glob(".*partial*"))


def test_export_killed_between_rename_and_commit_is_adopted_by_the_rerun(ws, tmp_path):
    _split_workspace(ws, tmp_path)
    out = tmp_path / "exports" / "photos-v1"
    killed = run(["--workspace", ws, "export", "photos", "--out", out], script=KILL_AFTER_EXPORT)
    assert killed.returncode == -9
    assert (out / "SHA256SUMS").exists() and _count(ws / "curate.sqlite", "SELECT count(*) FROM exports") == 0
    _finish_and_check(ws, out)
    again = run(["--workspace", ws, "export", "photos", "--out", out])  # recorded now: a rerun refuses
    assert again.returncode == 1 and "already exists" in again.stderr
    assert _count(ws / "curate.sqlite", "SELECT count(*) FROM exports") == 1


def test_export_killed_while_writing_leaves_no_folder_and_reruns(ws, tmp_path):
    _split_workspace(ws, tmp_path, n=200)
    out = tmp_path / "exports" / "photos-v1"
    proc = start(["--workspace", ws, "export", "photos", "--out", out])
    partial = out.with_name(f".{out.name}.partial")
    kill_when(proc, lambda: partial.exists() and any(partial.rglob("*.jpg")))
    assert not out.exists() and _count(ws / "curate.sqlite", "SELECT count(*) FROM exports") == 0
    _finish_and_check(ws, out)


def test_a_second_download_is_refused_while_one_runs_and_a_dead_holder_is_taken_over(ws):
    holder = start([ws], script="import sys, time\nfrom curation.locks import stage_lock\n"
                                "with stage_lock(sys.argv[1], 'images', 'download'):\n"
                                "    print('held', flush=True)\n    time.sleep(60)\n")
    assert holder.stdout.readline().strip() == "held"
    second = run(["--workspace", ws, "download"])
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert f"another download (pid {holder.pid}) is running" in second.stderr
    imported = run(["--workspace", ws, "import", ws / "store"])  # import shares the store: refused too
    assert imported.returncode == 1 and f"pid {holder.pid}" in imported.stderr
    assert run(["--workspace", ws, "status"]).returncode == 0  # readers are never locked out
    assert run(["--workspace", ws, "filter"]).returncode == 0  # another stage's lock
    from curation.locks import stage_lock

    with stage_lock(ws, "filter", "filter"):  # this test process holds the filter lock now
        second_filter = run(["--workspace", ws, "filter"])
        assert second_filter.returncode == 1 and f"another filter (pid {os.getpid()}) is running" in second_filter.stderr
        assert run(["--workspace", ws, "filter", "report", "--out", ws / "r.html"]).returncode == 0  # read-only
    holder.kill()
    holder.wait()
    assert (ws / ".locks" / "images.lock").read_text().split() == ["download", str(holder.pid)]  # stale text
    after = run(["--workspace", ws, "download"])
    assert after.returncode == 0 and "nothing to download" in after.stdout


def test_two_imports_at_once_never_crash_or_duplicate(ws, tmp_path):
    photos = _photos(tmp_path / "photos", 120)
    procs = [start(["--workspace", ws, "import", photos, "--batch", "5"]) for _ in range(2)]
    outcomes = [(p.wait(), p.stdout.read(), p.stderr.read()) for p in procs]
    for code, out, err in outcomes:
        assert "Traceback" not in err and (code == 0 or "another import" in err), err
    assert any(code == 0 for code, _, _ in outcomes)
    assert _count(ws / "curate.sqlite", "SELECT count(*) FROM images") == 120
    assert _count(ws / "curate.sqlite", "SELECT count(*) FROM source_records") == 120


@pytest.mark.postgres
def test_postgresql_killed_mid_import_gives_one_line_and_the_rerun_finishes(tmp_path):
    import psycopg

    from tests.pg import PostgresServer, _bin

    server = PostgresServer().start()
    try:
        name = server.create_database()
        db = server.url(name)
        ws = tmp_path / "ws"
        assert run(["init", ws], CURATE_DB=db).returncode == 0
        photos = _photos(tmp_path / "photos", 60)

        def images() -> int:
            try:
                with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname={name}",
                                     connect_timeout=2) as conn:
                    return conn.execute("SELECT count(*) FROM images").fetchone()[0]
            except psycopg.Error:
                return 0

        proc = start(["--workspace", ws, "import", photos, "--batch", "1"], CURATE_DB=db)
        deadline = time.monotonic() + 120
        while images() < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        data = server.dir / "data"
        server._run(_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop")  # the server dies mid-stage
        code, err = proc.wait(timeout=120), proc.stderr.read()
        assert code == 1 and "Traceback" not in err, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "database" in lines[0], err
        opts = f"-p {server.port} -h 127.0.0.1 -k {server.dir / 'sock'} -c fsync=off"
        server._run(_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(server.dir / "log"), "-w", "start")
        again = run(["--workspace", ws, "import", photos], CURATE_DB=db)
        assert again.returncode == 0, again.stderr
        assert images() == 60
    finally:
        server.stop()
