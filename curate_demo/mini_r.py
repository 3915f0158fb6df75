"""The splits stage of ``curate demo``: Mini-R (train on photo-like images, test on renditions) from the
reviewed labels, an SVSF-style metadata-shift split from a generated table, both exported and verified."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Callable

import numpy as np

from curation.errors import CurateError

SHIFT_SPEC = """
name = "demo-svsf"
description = "A generated SVSF-style table: train in US/Mexico/Canada, 2019, new camera; one-attribute shifts."
class_set = "svsf"
seed = 0
[source]
kind = "table"
[labels]
from = "column"
column = "class"
[train]
where = { country = ["US", "Mexico", "Canada"], year = 2019, camera = "new" }
size = 240
[iid_test]
size = 40
[[ood]]
name = "year_2017"
change = { year = 2017 }
size = 30
[[ood]]
name = "country_france"
change = { country = "France" }
size = 30
[[ood]]
name = "camera_old"
change = { camera = "old" }
size = 30
[groups]
disjoint_by = "business_id"
"""


def _shift_table(workspace: Path) -> Path:
    from curation.taxonomy import builtin_class_set
    from splits.synthetic import svsf_table, write_images

    root = workspace / "demo-svsf"
    if not (root / "table.csv").exists():
        keys = [c.key for c in builtin_class_set("svsf")]
        table = svsf_table(1000, np.random.default_rng(0), keys)
        write_images(root, table["image"].tolist(), size=(48, 32))
        table.to_csv(root / "table.csv", index=False)
    return root / "table.csv"


def _next_folder(base: Path) -> Path:
    candidate, version = base.with_name(f"{base.name}-v1"), 1
    while candidate.exists():
        version += 1
        candidate = base.with_name(f"{base.name}-v{version}")
    return candidate


def mini_r_stage(engine, workspace: Path, store_root: Path, out: Path,
                 echo: Callable[[str], None] = print) -> dict[str, Path]:
    """Mini-R from the reviewed labels (train on photos, one test set per rendition style) and the
    SVSF-style metadata-shift split; both exported as imagefolder and verified. Returns name -> export."""
    from curation.db.session import session_scope
    from splits.frozen import verify
    from splits.pipeline import build_and_save, export_named
    from splits.spec import load_spec, parse_spec

    table = _shift_table(Path(workspace))
    built = {}
    with session_scope(engine) as session:
        for spec, metadata in ((load_spec("mini-r"), None), (parse_spec(tomllib.loads(SHIFT_SPEC)), table)):
            _, result = build_and_save(session, spec, Path(workspace), metadata, replace=True)
            built[spec.name] = result
    paths: dict[str, Path] = {}
    for name, result in built.items():
        sizes = ", ".join(f"{k} {v}" for k, v in sorted(_subset_sizes(result).items()))
        target = _next_folder(Path(out) / name)
        with session_scope(engine) as session:
            summary, _ = export_named(session, name, "imagefolder", target, Path(workspace), store_root)
        ok = verify(summary.out).ok
        echo(f"  {name}: {sizes}; exported {summary.n_rows} images ({sum(summary.refused.values())} refused) "
             f"-> {summary.out}; verify: {'OK' if ok else 'FAILED'}")
        if not ok:
            raise CurateError(f"the export {summary.out} failed verification")
        paths[name] = summary.out
    return paths


def _subset_sizes(result) -> dict[str, int]:
    return {str(k): int(v) for k, v in result.members["subset"].value_counts().items()}
