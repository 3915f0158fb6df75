"""Scrape jobs against the emulator: CLI, dedup across queries, licenses, the cap, quotas, failures."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from curation.config import load_settings
from curation.db.models import Query, QuerySource, ScrapeWindow, SourceRecord
from curation.db.session import connect, session_scope
from curation.emulator import CorpusConfig
from curation.flickr.client import FlickrClient, RetryPolicy
from curation.flickr.queries import QuerySpec
from curation.scrape.job import ScrapeOptions
from curation.scrape.pipeline import setup_job
from curation.scrape.runner import run_job


def _links(engine) -> dict[str, set[str]]:
    with session_scope(engine) as session:
        rows = session.execute(select(Query.text, SourceRecord.source_id).join(QuerySource, QuerySource.query_id == Query.id)
                               .join(SourceRecord, SourceRecord.id == QuerySource.source_record_id)).all()
    out: dict[str, set[str]] = {}
    for text, source_id in rows:
        out.setdefault(text, set()).add(source_id)
    return out


def _expected(emu, words: set[str], licenses: set[str] | None = None) -> set[str]:
    return {p.id for p in emu.corpus.photos
            if words <= set(f"{p.title} {p.description} {p.tags}".lower().split()) and p.safety == 1
            and p.content_type == 1 and (licenses is None or p.license in licenses)}


def test_scrape_cli_dedups_across_queries_filters_licenses_and_downloads(workspace, cli, flickr_env, tmp_path):
    emu = flickr_env
    queries = tmp_path / "queries.tsv"
    queries.write_text("# text, class, rendition\ngoldfish cartoon\tgoldfish\tcartoon\ngoldfish\tgoldfish\ncartoon\n")
    out = cli("scrape", "--query-file", queries, "--per-page", "7", "--rate", "360000").output
    assert "new photos" in out and "downloaded" in out
    engine = connect(load_settings(workspace).database_url)
    allowed = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}
    links = _links(engine)
    assert links["goldfish cartoon"] == _expected(emu, {"goldfish", "cartoon"}, allowed)
    assert links["goldfish"] == _expected(emu, {"goldfish"}, allowed)
    assert links["goldfish cartoon"] <= links["goldfish"] and links["goldfish cartoon"] <= links["cartoon"]
    with session_scope(engine) as session:
        records = session.scalars(select(SourceRecord)).all()
        assert len(records) == len(set().union(*links.values()))  # one record per photo, however many queries
        assert all(r.license != "all-rights-reserved" for r in records)
        assert {r.status for r in records} == {"downloaded"} and all(r.image_id for r in records)
        goldfish = session.scalar(select(Query).where(Query.text == "goldfish cartoon"))
        assert goldfish.class_id is not None and goldfish.rendition == "cartoon"
    again = cli("scrape", "--query-file", queries, "--per-page", "7", "--rate", "360000").output
    assert "0 new photos" in again
    status = cli("scrape", "status").output
    assert "3 queries: 3 done" in status and "photos found" in status


def test_license_option_restricts_results(workspace, cli, start_emulator, monkeypatch):
    emu = start_emulator(CorpusConfig(classes=("goldfish",), styles=("sketch",), per_cell=60))
    monkeypatch.setenv("FLICKR_API_KEY", emu.api_key)
    monkeypatch.setenv("FLICKR_API_SECRET", emu.api_secret)
    cli("scrape", "--class", "goldfish", "--keyword", "sketch", "--license", "CC0-1.0", "--no-download",
        "--rate", "360000", "--rest-url", emu.rest_url)
    engine = connect(load_settings(workspace).database_url)
    with session_scope(engine) as session:
        licenses = set(session.scalars(select(SourceRecord.license)))
        texts = set(session.scalars(select(Query.text)))
    assert licenses == {"CC0-1.0"} and texts == {"goldfish sketch"}
    assert _links(engine)["goldfish sketch"] == _expected(emu, {"goldfish", "sketch"}, {"9"})


def _job(engine, settings, emu, specs, **options):
    client = FlickrClient(emu.api_key, emu.api_secret, rest_url=emu.rest_url, rng=np.random.default_rng(0),
                          retry=RetryPolicy(tries=3, base_s=0.01))
    licenses = options.pop("licenses", ["all"])
    job_id, _, shorts = setup_job(engine, settings, client, specs, "imagenet-r", licenses,
                                  ScrapeOptions(licenses=(), **options))
    return client, job_id, shorts


@pytest.mark.slow
def test_cap_is_passed_by_continuing_from_the_last_upload_date(tmp_path, start_emulator):
    from curation.db.session import upgrade

    engine = connect(f"sqlite:///{tmp_path / 'cap.sqlite'}")  # the cap logic is backend-neutral; SQLite is quicker
    upgrade(engine)
    emu = start_emulator(CorpusConfig(classes=("goldfish",), styles=("cartoon",), per_cell=9000, plants=0,
                                      reference_size=0))
    settings = load_settings(tmp_path)
    client, job_id, shorts = _job(engine, settings, emu, [QuerySpec("goldfish cartoon")])
    stats = run_job(engine, client, job_id, shorts, workers=4)
    expected = _expected(emu, {"goldfish", "cartoon"})
    assert len(expected) > 8000
    assert _links(engine)["goldfish cartoon"] == expected
    with session_scope(engine) as session:
        windows = session.scalars(select(ScrapeWindow).order_by(ScrapeWindow.min_upload)).all()
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == len(expected)
    assert stats.continued == len(windows) - 1 >= 2  # 4,000 results a window, then on from the last date
    assert [w.status for w in windows] == ["continued"] * (len(windows) - 1) + ["done"]
    assert windows[0].total_reported == len(expected) and sum(w.found for w in windows) == len(expected)
    assert all(a.max_upload == b.max_upload and a.min_upload < b.min_upload for a, b in zip(windows, windows[1:]))
    assert stats.pages == sum(w.next_page - 1 for w in windows) <= -(-len(expected) // 500) + len(windows)


def test_max_per_query_and_legacy_types(engine, tmp_path, start_emulator):
    emu = start_emulator(field_types="legacy")
    settings = load_settings(tmp_path)
    client, job_id, shorts = _job(engine, settings, emu, [QuerySpec("goldfish"), QuerySpec("mushroom")],
                                  max_per_query=5, per_page=2)
    run_job(engine, client, job_id, shorts, workers=2)
    links = _links(engine)
    assert {len(v) for v in links.values()} == {5}
    assert links["goldfish"] <= _expected(emu, {"goldfish"})


def test_failed_windows_are_recorded_and_retried_on_rerun(engine, tmp_path, start_emulator):
    emu = start_emulator()
    settings = load_settings(tmp_path)
    client, job_id, shorts = _job(engine, settings, emu, [QuerySpec("goldfish")])
    emu.faults.api_error_rate = 1.0
    stats = run_job(engine, client, job_id, shorts)
    assert stats.failed_windows == 1
    with session_scope(engine) as session:
        window = session.scalars(select(ScrapeWindow)).one()
        assert window.status == "failed" and "after 3 tries" in window.error
    emu.faults.api_error_rate = 0.0
    client, job_id, shorts = _job(engine, settings, emu, [QuerySpec("goldfish")])  # the rerun: same job
    run_job(engine, client, job_id, shorts)
    assert _links(engine)["goldfish"] == _expected(emu, {"goldfish"})


def test_invalid_key_stops_with_a_clear_message(workspace, cli, flickr_env, monkeypatch):
    monkeypatch.setenv("FLICKR_API_KEY", "f" * 32)
    result = cli("scrape", "--class", "goldfish", "--keyword", "cartoon", ok=False)
    assert result.exit_code == 1 and "FLICKR_API_KEY" in result.output and "code 100" in result.output
    monkeypatch.delenv("FLICKR_API_KEY")
    result = cli("scrape", "--class", "goldfish", "--keyword", "cartoon", ok=False)
    assert result.exit_code == 1 and "no Flickr API key" in result.output
