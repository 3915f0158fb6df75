"""A real two-node Ray cluster (two `ray start` processes) running a DeepAugment generation and a download
into the S3 test server, with the database on PostgreSQL; the worker node is killed in the middle of the
download, its tasks are retried on the head, and nothing is lost or duplicated.

Workers never open the database: the nodes' environment carries no database URL, tasks carry plain data
(URLs, rows, store locations), and every result reaches the database through the driver.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from curation.db.models import Image, SourceRecord
from curation.db.session import connect, session_scope, upgrade
from curation.download.runner import download, select_records
from curation.store import open_store
from tests.conftest import make_image_bytes
from tests.ray_nodes import LocalRayCluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def cluster(s3_server, s3_url, monkeypatch):
    import ray

    ray.shutdown()  # never reuse a connection an earlier test made
    env = {k: v for k, v in os.environ.items() if not k.startswith("CURATE_DB")}
    env.pop("CURATE_WORKSPACE", None)
    nodes = LocalRayCluster(env={**env, **s3_server.env()})
    for key, value in nodes.auth.items():
        monkeypatch.setenv(key, value)
    try:
        nodes.start(workers=1, cpus=2)
        ray.init(address=nodes.address, log_to_driver=False)
        nodes.wait_nodes(2)
        yield nodes
    finally:
        ray.shutdown()
        nodes.stop()


class _Watch(threading.Thread):
    """Polls node ``name`` for a worker running ``task``; with ``kill``, kills the node once it sees one, after
    ``settle_s`` (time for the task to reach the server that holds its request)."""

    def __init__(self, cluster: LocalRayCluster, name: str, task: str, kill: bool = False, settle_s: float = 0.0):
        super().__init__(daemon=True)
        self.cluster, self.name, self.task, self.kill, self.settle_s = cluster, name, task, kill, settle_s
        self.seen = threading.Event()
        self.stop = threading.Event()
        self.done = threading.Event()  # set once the node is killed (or the watch gives up)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if self.cluster.running(self.name, self.task):
                    self.seen.set()
                    if self.kill:
                        time.sleep(self.settle_s)
                        self.cluster.kill(self.name)
                    return
                time.sleep(0.05)
        finally:
            self.done.set()


def _serve(images: dict[str, bytes], delay_s: float, hits: dict[str, int],
           hold: threading.Event) -> ThreadingHTTPServer:
    """Serves ``images``; every request waits for ``hold`` (at most 60 s), so a fetch is surely in flight on a
    node killed before ``hold`` is set, and its retry asks for the same URL again."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            with lock:
                hits[self.path] = hits.get(self.path, 0) + 1
            hold.wait(60)
            time.sleep(delay_s)
            body = images.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_deepaugment_and_download_over_two_nodes_survive_a_lost_node(cluster, s3_url, postgres_server, tmp_path,
                                                                      monkeypatch):
    import torch
    from s3fs import S3FileSystem

    from models.deepaugment.edsr import EDSR
    from models.deepaugment.generate import GenerateConfig, generate
    from splits import frozen
    from tests.models.deepaugment.conftest import build_export

    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    fs, bucket = S3FileSystem(), s3_url.removeprefix("s3://")

    # DeepAugment: one shard per image, spread over both nodes, read from and written to the store
    export = build_export(tmp_path / "tiny", n=8)
    for path in sorted(p for p in export.rglob("*") if p.is_file()):
        fs.put_file(str(path), f"{bucket}/exports/tiny/{path.relative_to(export).as_posix()}")
    torch.manual_seed(0)
    torch.save(EDSR(n_feats=8).state_dict(), tmp_path / "edsr.pt")
    fs.put_file(str(tmp_path / "edsr.pt"), f"{bucket}/weights/edsr.pt")
    watch = _Watch(cluster, "worker1", "run_shard")
    watch.start()
    cfg = GenerateConfig("edsr", f"{s3_url}/weights/edsr.pt", side=8, shard_size=1, batch=1)
    result = generate(cfg, f"{s3_url}/exports/tiny", f"{s3_url}/exports/tiny-edsr", ray=cluster.address)
    watch.stop.set()
    assert watch.seen.is_set(), "no DeepAugment shard ran on the second node"
    assert result.written == 8 and result.shards_run == 8 and not result.failed
    local = tmp_path / "local-edsr"  # the same generation on this machine alone, for comparison
    generate(GenerateConfig("edsr", str(tmp_path / "edsr.pt"), side=8, shard_size=1, batch=1), export, local,
             workers=1)
    for row in frozen.read_export(local).rows:
        assert fs.cat_file(f"{bucket}/exports/tiny-edsr/{row.path}") == (local / row.path).read_bytes(), row.path

    # download: the worker node is killed as soon as it runs a fetch; its tasks are retried on the head
    db = postgres_server.create_database()
    engine = connect(postgres_server.url(db))
    upgrade(engine)
    images = {f"/img{i}.jpg": make_image_bytes(500 + i, (40, 30)) for i in range(40)}
    hits: dict[str, int] = {}
    killer = _Watch(cluster, "worker1", "fetch", kill=True, settle_s=1.0)
    server = _serve(images, delay_s=0.05, hits=hits, hold=killer.done)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with session_scope(engine) as session:
            for path in [*images, "/missing.jpg"]:
                session.add(SourceRecord(source="test", source_id=path, url=base + path))
        with session_scope(engine) as session:
            records = select_records(session)
        store = open_store(f"{s3_url}/images")
        killer.start()
        stats = download(engine, store, records, max_pixels=10_000_000, max_bytes=10_000_000, workers=8,
                         ray=cluster.address, tries=1, batch=5)
        killer.stop.set()
        assert killer.seen.is_set(), "no fetch ran on the second node before the end of the download"
        assert "worker1" not in cluster.nodes  # it was killed mid-run
        # the fetches held in flight on the lost node were run again (Ray's task retries): some URL was asked twice
        assert set(hits) == {*images, "/missing.jpg"} and max(hits.values()) >= 2, hits
    finally:
        server.shutdown()

    expected = {hashlib.sha256(data).hexdigest() for data in images.values()}  # independent of the run
    assert stats.downloaded == 40 and sum(stats.rejected.values()) == 1 and not stats.failed
    with session_scope(engine) as session:
        states = dict(session.execute(select(SourceRecord.source_id, SourceRecord.status)).all())
        assert states == {**{p: "downloaded" for p in images}, "/missing.jpg": "rejected"}
        assert set(session.scalars(select(Image.sha256))) == expected
        assert session.scalar(select(func.count()).select_from(Image)) == 40  # no duplicate rows
    engine.dispose()
    postgres_server.drop_database(db)
    keys = fs.find(f"{bucket}/images")
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == sorted(expected)  # every object once, none missing
    assert all(hashlib.sha256(fs.cat_file(k)).hexdigest() == k.rsplit("/", 1)[1] for k in keys)
