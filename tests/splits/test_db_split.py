import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from curation.db.models import Split, SplitMember
from curation.db.session import connect, upgrade
from curation.store import ImageStore
from splits.frozen import read_export, verify
from tests.splits.dbdata import CLASSES, populate, reject

DB_SPEC = """
name = "renditions"
class_set = "imagenet-r"
seed = 11
[source]
kind = "db"
[labels]
from = "reviewed"
[train]
where = { rendition = "art" }
[iid_test]
size = 3
[[ood]]
name = "sketch"
change = { rendition = "sketch" }
[leakage]
max_distance = {distance}
[export]
licenses = ["CC-BY-2.0"]
"""


def _populate(workspace, db_url, reverse=False):
    engine = connect(db_url)
    with Session(engine, expire_on_commit=False) as session:
        images = populate(session, ImageStore(workspace / "store"), reverse=reverse)
        session.commit()
    return engine, images


def test_imagenet_r_preset_from_reviewed_labels(workspace, db_url, cli, tmp_path):
    from torchvision.datasets import ImageFolder

    engine, _ = _populate(workspace, db_url)
    out = cli("splits", "build", "imagenet-r").output
    assert "split imagenet-r" in out and "30 memberships in 1 subsets" in out
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(SplitMember)) == 30
        assert session.scalar(select(Split.preset)) == "imagenet-r"
    cli("export", "imagenet-r", "--out", tmp_path / "imagenet-r")
    export = read_export(tmp_path / "imagenet-r")
    assert {r.path.split("/")[0] for r in export.rows} == set(CLASSES)  # <wnid>/<file>, as the original
    assert all(r.path == f"{r.label}/{r.sha256}.jpg" for r in export.rows)
    assert len(export.classes) == 200 and export.classes[0].logit_index == 1
    folder = ImageFolder(str(tmp_path / "imagenet-r"))
    assert folder.classes == sorted(CLASSES) and len(folder) == 30
    assert verify(tmp_path / "imagenet-r").ok
    assert "Owner \\<b\\>0\\</b\\>" in (tmp_path / "imagenet-r" / "README.md").read_text()
    assert "imagenet-r" in cli("splits", "list").output and "n01443537" in cli("splits", "show", "imagenet-r",
                                                                                "--classes").output
    engine.dispose()


def test_refused_images_are_left_out_with_count_and_reason(workspace, db_url, cli, tmp_path):
    engine, images = _populate(workspace, db_url)
    spec = tmp_path / "spec.toml"
    spec.write_text(DB_SPEC.replace("{distance}", "0"))
    cli("splits", "build", spec)
    with Session(engine) as session:
        reject(session, images)
        session.commit()
    out = cli("export", "renditions", "--out", tmp_path / "e").output
    assert "refused 1: filter: quality (too small)" in out and "refused 1: review: rejected" in out
    assert "refused 1: license: All rights reserved is not in the allow-list" in out
    export = read_export(tmp_path / "e")
    assert len(export.rows) == 27 and sum(export.info["refused"].values()) == 3
    assert "## Refused images" in (tmp_path / "e" / "README.md").read_text()
    rebuilt = cli("splits", "build", spec, ok=False)
    assert rebuilt.exit_code != 0 and "pass --replace" in rebuilt.output
    frozen = cli("splits", "build", spec, "--replace", ok=False)
    assert "has 1 export(s) and is frozen" in frozen.output
    cli("splits", "build", spec, "--name", "renditions-v2")  # the rebuilt split leaves the refused images out
    shown = cli("splits", "show", "renditions-v2").output
    assert "refused (filter)" in shown and "refused (license)" in shown  # the rejected image lost its label
    assert "27 memberships" in cli("splits", "build", spec, "--name", "renditions-v3").output
    engine.dispose()


def test_leakage_check_uses_the_images_perceptual_hashes(workspace, db_url, cli, tmp_path):
    engine, _ = _populate(workspace, db_url)
    # each sketch is 2 bits from the art image of its class and number; 3 art images are in the IID test
    for distance, kept in ((4, 3), (1, 15)):
        spec = tmp_path / f"spec{distance}.toml"
        spec.write_text(DB_SPEC.replace("{distance}", str(distance)).replace('"renditions"', f'"r{distance}"'))
        cli("splits", "build", spec)
        with Session(engine) as session:
            report = session.scalar(select(Split.report).where(Split.name == f"r{distance}"))
        assert report["sizes"]["sketch"] == kept
        assert report["dropped"].get("near-duplicate of a train image (sketch)", 0) == 15 - kept
    engine.dispose()


@pytest.mark.postgres
def test_same_assignment_on_sqlite_and_postgresql(postgres_server, tmp_path):
    from splits.pipeline import build_and_save
    from splits.spec import parse_spec
    import tomllib

    spec = parse_spec(tomllib.loads(DB_SPEC.replace("{distance}", "0")))
    results = []
    for url, reverse in ((f"sqlite:///{tmp_path / 'a.sqlite'}", False),
                         (postgres_server.url(postgres_server.create_database()), True)):
        engine = connect(url)
        upgrade(engine)
        with Session(engine) as session:
            populate(session, ImageStore(tmp_path / "store"), reverse=reverse)
            _, result = build_and_save(session, spec, tmp_path)
            session.commit()
            results.append(sorted(zip(result.members["subset"], result.members["key"], result.members["labels"])))
        engine.dispose()
    assert results[0] == results[1] and len(results[0]) == 30
    assert sum(1 for s, _, _ in results[0] if s == "iid_test") == 3
