"""Kill ``curate scrape`` with SIGKILL mid-run, run it again: the photos equal an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from curation.db.models import Query, QuerySource, SourceRecord
from curation.db.session import connect, session_scope
from curation.emulator import CorpusConfig, Faults

QUERIES = "goldfish\nmushroom\nstrawberry\ngoldfish cartoon\nmushroom sketch\nstrawberry painting\ncartoon\n"


def _env(emu, workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CURATE_DB",)}
    env.update(CURATE_WORKSPACE=str(workspace), FLICKR_API_KEY=emu.api_key, FLICKR_API_SECRET=emu.api_secret,
               CURATE_FLICKR_REST_URL=emu.rest_url)
    return env


def _command(query_file: Path) -> list[str]:
    return [sys.executable, "-m", "curation", "scrape", "--query-file", str(query_file), "--per-page", "4",
            "--workers", "2", "--no-download", "--license", "all", "--rate", "3600000", "--burst", "8"]


def _init(root: Path) -> None:
    from curation.db.session import upgrade
    from curation.workspace import create_workspace

    engine = connect(f"sqlite:///{create_workspace(root) / 'curate.sqlite'}")
    upgrade(engine)
    engine.dispose()


def _snapshot(root: Path) -> tuple[set[str], set[tuple[str, str]], int]:
    engine = connect(f"sqlite:///{root / 'curate.sqlite'}")
    with session_scope(engine) as session:
        ids = set(session.scalars(select(SourceRecord.source_id)))
        links = set(session.execute(select(Query.text, SourceRecord.source_id)
                                    .join(QuerySource, QuerySource.query_id == Query.id)
                                    .join(SourceRecord, SourceRecord.id == QuerySource.source_record_id)).all())
        n_links = session.scalar(select(func.count()).select_from(QuerySource))
    engine.dispose()
    return ids, links, n_links


def _count(root: Path) -> int:
    engine = connect(f"sqlite:///{root / 'curate.sqlite'}")
    try:
        with session_scope(engine) as session:
            return int(session.scalar(select(func.count()).select_from(SourceRecord)) or 0)
    finally:
        engine.dispose()


def _run_and_kill(command: list[str], env: dict[str, str], root: Path, at_least: int) -> bool:
    """Start the scrape, SIGKILL it once ``at_least`` records are committed; False if it finished first."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if _count(root) >= at_least:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.03)
    process.wait()
    return False


@pytest.mark.slow
def test_sigkill_and_rerun_equals_an_uninterrupted_run(tmp_path, start_emulator):
    emu = start_emulator(CorpusConfig(classes=("goldfish", "mushroom", "strawberry"),
                                      styles=("photo", "cartoon", "sketch", "painting"), per_cell=20, plants=0,
                                      reference_size=0), faults=Faults(latency_s=0.03))
    query_file = tmp_path / "queries.txt"
    query_file.write_text(QUERIES)
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    for root in (reference, interrupted):
        _init(root)
    full = subprocess.run(_command(query_file), env=_env(emu, reference), capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    calls_full = len(emu.counters.api_calls)
    expected = _snapshot(reference)
    assert len(expected[0]) > 100

    kills = 0
    for at_least in (25, 70):
        kills += _run_and_kill(_command(query_file), _env(emu, interrupted), interrupted, at_least)
    assert kills >= 1, "the scrape finished before it could be killed; slow the emulator down"
    before_rerun = len(emu.counters.api_calls)
    final = subprocess.run(_command(query_file), env=_env(emu, interrupted), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert _snapshot(interrupted) == expected  # same photos, same query links, no duplicates
    assert len(emu.counters.api_calls) - before_rerun < calls_full  # the rerun continued, it did not start over
