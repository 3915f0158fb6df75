"""Fixtures for the split tests: a small SVSF-style table with images, a populated database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomli_w

from splits.synthetic import svsf_table, write_images


def svsf_small_spec():
    """The SVSF preset scaled to the 1,200-row test table: two OOD tests, the table's business_id groups."""
    from splits.spec import load_spec

    small = load_spec("svsf").with_sizes({"train": 300, "iid_test": 60, "year_2017": 40, "country_france": 40},
                                         name="svsf-small", seed=3)
    return small.with_options(**{"groups.disjoint_by": "business_id", "export.licenses": ["CC-BY-2.0", "CC0-1.0"]})


@pytest.fixture
def svsf_table_dir(tmp_path, svsf_source) -> Path:
    """``table.csv`` (1,200 rows, 20 classes) beside the generated images it names; each test gets its
    own copy (hard links), so it may edit or delete files."""
    import os
    import shutil

    root = tmp_path / "svsf"
    shutil.copytree(svsf_source, root, copy_function=os.link)
    (root / "table.csv").unlink()
    shutil.copy(svsf_source / "table.csv", root / "table.csv")
    return root


@pytest.fixture(scope="session")
def svsf_source(tmp_path_factory) -> Path:
    from curation.taxonomy import builtin_class_set

    keys = [c.key for c in builtin_class_set("svsf")]
    root = tmp_path_factory.mktemp("svsf")
    frame = svsf_table(1200, np.random.default_rng(7), keys)
    flickr = frame.index % 4 == 0
    frame["source"] = np.where(flickr, "flickr", "table")
    frame["owner"] = np.where(flickr, np.where(frame.index % 8 == 0, "12345@N01", "67890@N02"), "")
    frame["owner_name"] = np.where(flickr, np.where(frame.index % 8 == 0, "Ann *bold* [x](javascript:alert(1))",
                                                    "Bob <b>| pipe</b>"), "")
    frame.loc[5:14, "license"] = "All rights reserved"
    frame.to_csv(root / "table.csv", index=False)
    write_images(root, frame["image"].tolist(), size=(32, 24))
    (root / "spec.toml").write_text(tomli_w.dumps(dict(svsf_small_spec().raw)))
    return root


@pytest.fixture
def table_workspace(tmp_path, monkeypatch) -> Path:
    """A workspace on SQLite only: table-based splits keep their members in files, so the backend
    does not matter for them (DB-based split tests use the two-backend ``workspace`` fixture)."""
    from click.testing import CliRunner

    from curation.cli import root

    ws = tmp_path / "ws"
    monkeypatch.delenv("CURATE_DB", raising=False)
    monkeypatch.setenv("CURATE_WORKSPACE", str(ws))
    result = CliRunner().invoke(root, ["init", str(ws)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return ws


@pytest.fixture
def svsf_built(table_workspace, cli, svsf_table_dir) -> Path:
    """The workspace after ``curate splits build spec.toml --metadata table.csv``."""
    cli("splits", "build", svsf_table_dir / "spec.toml", "--metadata", svsf_table_dir / "table.csv")
    return table_workspace
