"""Downloads: every per-image failure recorded with its reason, 429 + Retry-After, --retry-failed, Ray."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from curation.config import load_settings
from curation.db.models import Image, SourceRecord
from curation.db.session import connect, session_scope
from curation.download.fetch import FetchTask, fetch, retry_after_seconds, robots_forbid
from curation.download.placeholder import is_placeholder, template_png
from curation.download.runner import download, select_records
from curation.store import ImageStore
from tests.conftest import make_image_bytes


def _bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


class _Routes:
    """What the test server answers, per path; ``hits`` counts requests per path."""

    def __init__(self):
        self.hits: dict[str, list[float]] = {}
        self.flaky_until = 0  # /flaky answers 503 while its hit count is below this
        self.ok = make_image_bytes(1, (40, 30))
        self.routes: dict[str, bytes] = {}  # extra paths a test serves with 200


def _handler(routes: _Routes):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def send(self, status: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path
            hits = routes.hits.setdefault(path, [])
            hits.append(time.monotonic())
            if path in routes.routes:
                self.send(200, routes.routes[path])
            elif path == "/ok.jpg":
                self.send(200, routes.ok)
            elif path == "/text":
                self.send(200, b"<html>not an image</html>", {"Content-Type": "text/html"})
            elif path == "/bomb.png":
                self.send(200, _bomb_png())
            elif path == "/big.jpg":
                self.send(200, make_image_bytes(2, (400, 300)))
            elif path == "/noai.jpg":
                self.send(200, routes.ok, {"X-Robots-Tag": "otherbot: noindex, noimageai"})
            elif path == "/gone.png":
                self.send(200, template_png((500, 374)))
            elif path == "/throttled.jpg":
                if len(hits) == 1:
                    self.send(429, b"slow down", {"Retry-After": "1"})
                else:
                    self.send(200, make_image_bytes(3, (40, 30)))
            elif path == "/flaky.jpg":
                self.send(503, b"busy") if len(hits) <= routes.flaky_until else self.send(200, make_image_bytes(4))
            else:
                self.send(404, b"no such file")

    return Handler


@pytest.fixture
def image_server():
    routes = _Routes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    routes.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield routes
    server.shutdown()
    server.server_close()


def _add_records(engine, base: str, paths: list[str]) -> None:
    with session_scope(engine) as session:
        for path in paths:
            session.add(SourceRecord(source="test", source_id=path, url=base + path))


def _states(engine) -> dict[str, tuple[str, str | None]]:
    with session_scope(engine) as session:
        return {r.source_id: (r.status, r.error) for r in session.scalars(select(SourceRecord))}


def test_each_failure_is_recorded_with_its_reason(engine, tmp_path, image_server):
    paths = ["/ok.jpg", "/text", "/bomb.png", "/big.jpg", "/noai.jpg", "/gone.png", "/missing.jpg"]
    _add_records(engine, image_server.base, paths)
    with session_scope(engine) as session:
        records = select_records(session)
    stats = download(engine, ImageStore(tmp_path / "store"), records, max_pixels=10_000_000, max_bytes=20_000,
                     workers=4)
    states = _states(engine)
    assert states["/ok.jpg"] == ("downloaded", None)
    assert states["/text"][0] == "rejected" and states["/text"][1] == "not-an-image"
    assert states["/bomb.png"][0] == "rejected" and states["/bomb.png"][1].startswith("decompression-bomb")
    assert states["/big.jpg"][0] == "rejected" and states["/big.jpg"][1].startswith("too-large")
    assert states["/noai.jpg"][0] == "rejected" and states["/noai.jpg"][1].startswith("robots-noai")
    assert states["/gone.png"][0] == "rejected" and states["/gone.png"][1].startswith("flickr-placeholder")
    assert states["/missing.jpg"] == ("rejected", "http-404: not found (deleted?)")  # permanent: never retried
    assert stats.downloaded == 1 and not stats.failed and sum(stats.rejected.values()) == 6
    with session_scope(engine) as session:
        image = session.scalars(select(Image)).one()
        assert ImageStore(tmp_path / "store").read(image.sha256) == image_server.ok


@pytest.mark.slow
def test_retry_after_pause_and_retry_failed_cli(workspace, cli, image_server):
    engine = connect(load_settings(workspace).database_url)
    image_server.flaky_until = 10  # more 503s than one download tries
    _add_records(engine, image_server.base, ["/throttled.jpg", "/flaky.jpg"])
    out = cli("download", "--workers", "2").output
    assert "downloaded 1 of 2" in out and "http-503" in out
    hits = image_server.hits["/throttled.jpg"]
    assert len(hits) == 2 and hits[1] - hits[0] >= 0.95  # waited for Retry-After: 1
    assert _states(engine)["/flaky.jpg"] == ("failed", "http-503")
    assert "nothing to download" in cli("download").output  # failures wait for --retry-failed
    image_server.flaky_until = 0
    assert "downloaded 1 of 1" in cli("download", "--retry-failed").output
    assert _states(engine)["/flaky.jpg"] == ("downloaded", None)
    with session_scope(engine) as session:
        flaky = session.scalar(select(SourceRecord).where(SourceRecord.source_id == "/flaky.jpg"))
        assert flaky.attempts == 5  # four tries the first time, one on the retry


def test_fetch_helpers():
    assert robots_forbid("noai") and robots_forbid("googlebot: noindex, NoImageAI") and not robots_forbid("noindex")
    assert retry_after_seconds("7", 1) == 7 and retry_after_seconds(None, 3) == 3
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 3) == 0
    assert is_placeholder(template_png((240, 179))) and is_placeholder(b"x", "https://s.yimg.com/photo_unavailable.png")
    assert not is_placeholder(make_image_bytes(5, (500, 374)))
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.new("RGB", (500, 374), (235, 235, 235)).save(buf, "PNG")  # plain grey without the glyph
    assert not is_placeholder(buf.getvalue())
    result = fetch(FetchTask(1, "http://127.0.0.1:9/none.jpg", timeout=0.5, tries=2, backoff_s=0.01))
    assert result.status == "failed" and result.error.startswith("network")


def test_emulator_faults_through_the_downloader(engine, tmp_path, start_emulator):
    from curation.emulator import CorpusConfig, Faults

    emu = start_emulator(CorpusConfig(per_cell=2, deleted=1, noai=1),
                         faults=Faults(first={"image_5xx": 1, "truncate": 1, "image_429": 1}))
    with session_scope(engine) as session:
        for photo in emu.corpus.photos[:12]:
            session.add(SourceRecord(source="flickr", source_id=photo.id,
                                     url=f"{emu.base_url}/{photo.server}/{photo.id}_{photo.secret}.jpg"))
    with session_scope(engine) as session:
        records = select_records(session)
    stats = download(engine, ImageStore(tmp_path / "store"), records, max_pixels=10_000_000, max_bytes=10_000_000,
                     workers=3)
    assert emu.counters.faults == {"image_5xx": 1, "truncate": 1, "image_429": 1}
    deleted = {p.id for p in emu.corpus.photos[:12] if p.deleted}
    noai = {p.id for p in emu.corpus.photos[:12] if p.noai}
    states = _states(engine)
    assert all(states[i][1].startswith("flickr-placeholder") for i in deleted)
    assert all(states[i][1].startswith("robots-noai") for i in noai)
    assert stats.downloaded == 12 - len(deleted) - len(noai) and not stats.failed


@pytest.mark.slow
def test_ray_downloads_with_a_local_instance(tmp_path, image_server):
    import ray

    from curation.db.session import upgrade

    engine = connect(f"sqlite:///{tmp_path / 'ray.sqlite'}")
    upgrade(engine)
    _add_records(engine, image_server.base, ["/ok.jpg", "/text", "/missing.jpg"])
    with session_scope(engine) as session:
        records = select_records(session)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        stats = download(engine, ImageStore(tmp_path / "store"), records, max_pixels=10_000_000,
                         max_bytes=1_000_000, workers=2, ray="auto")
    finally:
        ray.shutdown()
    assert stats.downloaded == 1 and stats.rejected["not-an-image"] == 1 and stats.rejected["http-404"] == 1
    assert not stats.failed  # a 404 is permanent
    assert _states(engine)["/ok.jpg"] == ("downloaded", None)
