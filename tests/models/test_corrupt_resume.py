"""``curate corrupt``: one file per manifest row, and a killed run resumes to the uninterrupted result."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from splits.frozen import read_export, verify
from tests.killing import alive, children, kill_when, run, start


def test_identical_bytes_from_two_corruptions_stay_two_files(photos, tmp_path, monkeypatch):
    """Whitened images give the same bytes under several corruptions; each row still gets its own file."""
    import models.corrupt as corrupt_module
    from models.corrupt import make_corrupted_export

    white = Image.new("RGB", (32, 32), (255, 255, 255))
    monkeypatch.setattr(corrupt_module, "corrupt", lambda img, name, severity, rng, frost: white)
    out = tmp_path / "white-c"
    list(make_corrupted_export(photos, out, ["val"], ["brightness", "contrast"], [4, 5], resize=36, crop=32,
                               workers=1))
    export = read_export(out)
    n_sources = len(read_export(photos).subset("val"))
    assert len(export.rows) == n_sources * 2 * 2
    assert len({r.path for r in export.rows}) == len(export.rows)  # manifest rows == paths
    assert len({r.sha256 for r in export.rows}) == 1  # all the same bytes, yet nothing collapsed
    assert verify(out).ok


def _progress_lines(out: Path) -> int:
    try:
        return len(out.with_name(f".{out.name}.progress.jsonl").read_text().splitlines())
    except OSError:
        return 0


@pytest.mark.slow
def test_corrupt_killed_at_several_moments_resumes_to_the_uninterrupted_export(make_export, tmp_path):
    src = make_export("src", {"train": 1, "val": 10})  # 40 source images
    args = ["--subset", "val", "--corruptions", "gaussian_noise,glass_blur,fog", "--severities", "1,3,5",
            "--resize", "36", "--crop", "32", "--workers", "2"]
    whole = run(["corrupt", src, "--out", tmp_path / "whole", *args])
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    workers: set[int] = set()
    for moment in (2, 12, 30):  # progress lines logged (the first line holds the options)
        proc = start(["corrupt", src, "--out", out, *args])

        def ready() -> bool:
            workers.update(children(proc.pid))
            return _progress_lines(out) >= moment

        assert kill_when(proc, ready)
        assert not out.exists()  # the staging folder is not the export
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers and not any(alive(pid) for pid in workers)  # the pool died with its parent
    done = run(["corrupt", src, "--out", out, *args])
    assert done.returncode == 0, done.stderr
    assert (out / "SHA256SUMS").read_bytes() == (tmp_path / "whole" / "SHA256SUMS").read_bytes()
    assert (out / "manifest.csv").read_bytes() == (tmp_path / "whole" / "manifest.csv").read_bytes()
    assert verify(out).ok and not list(tmp_path.glob(".killed*"))
    rows = read_export(out).rows
    assert len(rows) == 40 * 3 * 3 == len({r.path for r in rows})
    again = run(["corrupt", src, "--out", out, *args])  # finished: a rerun with the same options has nothing to do
    assert again.returncode == 0 and (out / "SHA256SUMS").read_bytes() == (tmp_path / "whole" / "SHA256SUMS").read_bytes()


@pytest.mark.slow
def test_pool_workers_die_with_their_killed_parent(tmp_path):
    script = ("import sys, time, os\nfrom curation.parallel import map_unordered\n"
              "def nap(x):\n    time.sleep(60)\n    return x\n"
              "for _ in map_unordered(nap, range(4), workers=2):\n    pass\n")
    proc = start([], script=script)
    pids: list[int] = []

    def ready() -> bool:
        pids[:] = children(proc.pid)
        return len(pids) >= 2

    assert kill_when(proc, ready, timeout=60)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)


def test_a_second_corrupt_into_the_same_folder_is_refused(photos, tmp_path):
    import os

    from curation.locks import file_lock

    out = tmp_path / "photos-c"
    with file_lock(tmp_path / ".photos-c.lock", "curate corrupt", str(out)):  # as a running corrupt holds it
        result = run(["corrupt", photos, "--out", out, "--subset", "val", "--corruptions", "fog",
                          "--severities", "1", "--resize", "36", "--crop", "32", "--workers", "1"])
    assert result.returncode == 1 and f"curate corrupt (pid {os.getpid()}) is running on {out}" in result.stderr
    assert not out.exists() and not (tmp_path / ".photos-c.partial").exists()
