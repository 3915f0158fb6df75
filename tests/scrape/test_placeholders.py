"""A hostile image host: foreign placeholders, wrong content types, sizes that contradict the search result,
genuine 500x374 photos; permanent and transient download failures; the limiter in every rolling window."""

from __future__ import annotations

import math
import threading

import pytest
from sqlalchemy import select

from curation.config import load_settings
from curation.db.models import SourceRecord
from curation.db.session import connect, session_scope
from curation.download.placeholder import placeholder_reason, template_png
from curation.download.runner import download, select_records
from curation.emulator import CorpusConfig, Faults
from curation.emulator.server import foreign_placeholder
from curation.scrape.ratelimit import TokenBucket
from curation.store import ImageStore, sha256_bytes
from tests.conftest import make_image_bytes
from tests.scrape.test_download import _add_records, _states, image_server  # noqa: F401 - the server fixture


def _jpeg(size, seed=3) -> bytes:
    return make_image_bytes(seed, size)


FOREIGN_PNG = foreign_placeholder("foreign-png")
FOREIGN_JPEG = foreign_placeholder("foreign-jpeg")
SIGNALS = [
    # (bytes, url, content type, advertised size, extra digests, expected reason fragment or None)
    (template_png((500, 374)), "/a.png", "image/png", None, (), "looks like the photo-unavailable"),
    (FOREIGN_PNG, "/a.jpg", "image/png", (800, 600), (), "Content-Type image/png say png for a .jpg URL"),
    (FOREIGN_PNG, "/a.jpg", "image/jpeg", (800, 600), (), "the bytes say png for a .jpg URL"),
    (FOREIGN_JPEG, "/a.jpg", "image/jpeg", (800, 600), (), "the bytes are 500x374, the search result advertised 800x600"),
    (FOREIGN_JPEG, "/a.jpg", "image/jpeg", (500, 374), (), None),  # only its digest can tell
    (FOREIGN_JPEG, "/a.jpg", "image/jpeg", (500, 374), (sha256_bytes(FOREIGN_JPEG),), "sha256 is listed"),
    (_jpeg((500, 374)), "/a.jpg", "image/jpeg", (500, 374), (), None),  # a genuine photo whose largest size it is
    (_jpeg((374, 500)), "/a.jpg", "image/jpeg", (500, 374), (), None),  # rotated by the host
    (_jpeg((801, 600)), "/a.jpg", "image/jpeg", (800, 600), (), None),  # rounding of the advertised size
    (_jpeg((800, 600)), "/a.jpg", "image/jpeg", None, (), None),  # no advertised size: no size signal
    (_jpeg((64, 48)), "/a.jpg", "text/html; charset=utf-8", (64, 48), (), None),  # not an image type: the probe says
    (_jpeg((64, 48)), "/a.jpg", "image/pjpeg", (64, 48), (), None),  # an old spelling of image/jpeg
]


@pytest.mark.parametrize("case", range(len(SIGNALS)))
def test_each_placeholder_signal(case):
    data, url, content_type, advertised, known, expect = SIGNALS[case]
    reason = placeholder_reason(data, "http://host" + url, "http://host" + url, content_type, advertised, known)
    if expect is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith("flickr-placeholder: ") and expect in reason


@pytest.fixture(params=["foreign-png", "foreign-jpeg"])
def emulator(request, start_emulator):
    """A hostile host: deleted photos answered with a placeholder of another design; genuine 500x374 uploads."""
    return start_emulator(CorpusConfig(classes=("goldfish",), per_cell=3, plants=0, deleted=4, noai=0,
                                       small_originals=3), faults=Faults(placeholder=request.param), max_side=1024)


def test_scrape_against_a_host_with_foreign_placeholders_keeps_exactly_the_genuine_photos(workspace, cli, flickr_env):
    emu = flickr_env
    out = cli("scrape", "--class", "goldfish", "--rate", "360000").output
    assert "downloaded" in out
    engine = connect(load_settings(workspace).database_url)
    with session_scope(engine) as session:
        states = {r.source_id: (r.status, r.error or "") for r in session.scalars(select(SourceRecord))}
    deleted = {p.id for p in emu.corpus.photos if p.deleted and p.id in states}  # found by the default search
    small = {p.id for p in emu.corpus.photos if (p.width, p.height) == (500, 374) and p.id in states}
    assert len(deleted) >= 2 and len(small) >= 2
    assert all(states[i][0] == "rejected" and states[i][1].startswith("flickr-placeholder") for i in deleted)
    assert all(s == ("downloaded", "") for i, s in states.items() if i not in deleted)  # the 500x374 ones too


def test_permanent_failures_are_rejected_and_only_transient_ones_retried(engine, tmp_path, image_server):
    whole = _jpeg((200, 150), seed=8)
    image_server.routes = {"/cut.jpg": whole[: len(whole) // 2]}  # complete transfer of a cut-off file
    paths = ["/missing.jpg", "/flaky.jpg", "/ok.jpg"]
    image_server.flaky_until = 10
    _add_records(engine, image_server.base, paths)
    with session_scope(engine) as session:
        records = select_records(session)
    stats = download(engine, ImageStore(tmp_path / "store"), records, max_pixels=10_000_000, max_bytes=10_000_000,
                     workers=2, tries=2)
    states = _states(engine)
    assert states["/missing.jpg"] == ("rejected", "http-404: not found (deleted?)")
    assert states["/flaky.jpg"] == ("failed", "http-503") and states["/ok.jpg"] == ("downloaded", None)
    assert stats.failed == {"http-503": 1} and stats.rejected == {"http-404": 1}
    with session_scope(engine) as session:
        retried = {url.removeprefix(image_server.base) for _, url, _ in select_records(session, retry_failed=True)}
    assert retried == {"/flaky.jpg"}  # the 404 is never retried


def test_an_image_cut_short_without_a_length_is_a_transient_failure(engine, tmp_path):
    from curation.download.fetch import FetchResult
    from curation.download.runner import DownloadStats, apply_result

    whole = _jpeg((300, 200), seed=8)
    with session_scope(engine) as session:
        session.add(SourceRecord(source="test", source_id="cut", url="http://h/cut.jpg"))
    stats = DownloadStats()
    with session_scope(engine) as session:
        record = session.scalar(select(SourceRecord))
        apply_result(session, ImageStore(tmp_path / "store"), FetchResult(record.id, "ok", whole[:len(whole) // 2]),
                     stats, 10_000_000, 10_000_000)
    with session_scope(engine) as session:
        record = session.scalar(select(SourceRecord))
        assert record.status == "failed" and record.error.startswith("truncated")
        assert [r[0] for r in select_records(session, retry_failed=True)] == [record.id]
    assert stats.failed == {"truncated": 1} and not stats.rejected


def _calls(rate_per_hour: float, burst: int, n_calls: int, threads: int, pause_every: int = 0):
    """Call times of ``n_calls`` acquisitions from ``threads`` threads on a fake clock (idle gaps included)."""
    now = [0.0]
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            now[0] += seconds

    bucket = TokenBucket(rate_per_hour, burst=burst, clock=lambda: now[0], sleep=sleep, slack_s=0.0)
    stamps: list[float] = []
    per_thread = n_calls // threads

    def worker(k: int) -> None:
        for i in range(per_thread):
            if pause_every and i % pause_every == pause_every - 1 and k == 0:
                sleep(30.0)  # idle: a plain token bucket refills its burst here
            bucket.acquire()
            with lock:
                stamps.append(now[0])

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sorted(stamps), bucket


def _most_in_window(stamps: list[float], window: float) -> int:
    """The most calls in any closed window [t, t + window], every call time taken as a window start."""
    best = 0
    for i, start in enumerate(stamps):
        j = i
        while j < len(stamps) and stamps[j] <= start + window:
            j += 1
        best = max(best, j - i)
    return best


@pytest.mark.parametrize("burst, threads, pause_every", [(4, 1, 0), (4, 4, 0), (1, 2, 0), (4, 3, 25), (8, 8, 40)])
def test_the_limiter_never_exceeds_its_rate_in_any_rolling_window(burst, threads, pause_every):
    rate = 3600.0  # one call a second
    stamps, bucket = _calls(rate, burst, 240, threads, pause_every)
    assert len(stamps) == 240
    for window in (0.5, 1.0, 3.0, 4.0, 7.5, 10.0, 59.0, 60.0, 61.0, 120.0):
        allowed = max(burst, math.ceil(rate / 3600 * window))
        assert _most_in_window(stamps, window) <= allowed, (window, allowed)
        assert bucket.bound(window) == allowed
    assert _most_in_window(stamps, 0.0) == burst  # the burst is used, not wasted
    assert _most_in_window(stamps, 60.0) == 60  # and the rate is reached, not undershot


@pytest.mark.parametrize("size", [(320, 240), (240, 179), (500, 374), (800, 600)])
def test_the_template_recompressed_as_jpeg_is_caught_by_its_look_in_draft_mode(size):
    import io

    from curation.download.placeholder import is_placeholder, template

    for quality in (60, 95):
        buf = io.BytesIO()
        template(size).save(buf, "JPEG", quality=quality)
        assert is_placeholder(buf.getvalue()), (size, quality)
    assert not is_placeholder(_jpeg(size, seed=11))  # a photo of a placeholder's size is not one


def test_check_image_decodes_only_bodies_without_their_trailer():
    from curation.download.fetch import check_image

    whole = _jpeg((200, 150), seed=9)
    assert whole.endswith(b"\xff\xd9") and check_image(whole, 10_000_000, 10_000_000).ok
    cut = check_image(whole[: len(whole) * 2 // 3], 10_000_000, 10_000_000)
    assert not cut.ok and cut.reason.startswith("truncated")  # no trailer: decoded, and the decoder says why
    padded = check_image(whole + b"\x00\x00\r\n", 10_000_000, 10_000_000)  # padding after EOI is harmless
    assert padded.ok and (padded.width, padded.height) == (200, 150)
    assert check_image(b"GIF89a" + b"\x00" * 10, 10_000_000, 10_000_000).ok is False
