"""The demo's stages one at a time, at the smallest sizes that still exercise them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from curation.config import load_settings
from curation.db.models import QuerySource, SourceRecord
from curation.db.session import connect, session_scope, upgrade
from tests.models.conftest import one_torch_thread, write_export  # noqa: F401 - one_torch_thread is autouse
from tests.models.deepaugment.conftest import build_export


@pytest.mark.slow
def test_demo_scrape_counts(tmp_path):
    from curate_demo.scrape import demo_scrape
    from curation.workspace import create_workspace

    root = create_workspace(tmp_path / "ws")
    settings = load_settings(root)
    engine = connect(settings.database_url)
    upgrade(engine)
    counts = demo_scrape(settings, engine, per_cell=4)
    assert "downloaded" in counts["summary"] and counts["downloaded"] > 50 and counts["rejected"]["flickr-placeholder"] == 2
    assert counts["rejected"]["robots-noai"] == 1 and not counts["failed"]
    assert counts["reference_images"] == 14 and (root / "reference").is_dir()
    with session_scope(engine) as session:
        linked = session.scalar(select(func.count()).select_from(QuerySource))
        records = session.scalar(select(func.count()).select_from(SourceRecord))
    assert linked > records  # photos found by several queries are linked, not duplicated


@pytest.mark.slow
def test_models_demo_stage(tmp_path, monkeypatch):
    from curate_demo.training import run_models_demo
    from curation.taxonomy.classes import imagenet_r_rows

    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    keys = [r["wnid"] for r in imagenet_r_rows()[:3]]
    photos = write_export(tmp_path / "demo-photos", {"train": 6, "val": 2}, keys=keys, n_classes=3,
                          info={"class_set": "imagenet-r"})
    rend = write_export(tmp_path / "demo-rend", {"test": 2}, keys=keys, n_classes=3, style="rendition",
                        info={"class_set": "imagenet-r"})
    lines = []
    res = run_models_demo(photos, [rend], tmp_path / "out", epochs=1, severities=(1,), echo=lines.append)
    assert set(res["reports"]) == {"imagenet-r", "imagenet-c"}
    weights = tmp_path / "out" / "runs" / "augmix" / "checkpoint.pt"
    assert f"| augmix | resnet18 | {weights} | augmix |" in res["reports"]["imagenet-r"]
    assert (tmp_path / "out" / "reports" / "report-imagenet-c.png").exists()
    assert any(line.startswith("trained resnet18 (augmix)") for line in lines)


def test_noise2net_demo_trains(tmp_path):
    from curate_demo.noise2net import noise2net_demo

    export = build_export(tmp_path / "e", n=12)
    result = noise2net_demo(export, seconds=1.0, batch=4, size=16)
    assert result["steps"] >= 1 and result["images"] == 12 and 0 <= result["clean_train_accuracy"] <= 1
