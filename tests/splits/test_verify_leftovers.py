"""``curate verify`` reports leftovers of interrupted writes (``.*.tmp``) as extra files."""

from __future__ import annotations

from click.testing import CliRunner

from curation.cli import root
from splits.frozen import verify
from tests.models.conftest import write_export


def test_a_leftover_tmp_file_is_reported_as_extra(tmp_path):
    export = write_export(tmp_path / "e", {"test": 2})
    assert verify(export).ok
    (export / ".manifest.csv.tmp").write_text("half a manifest")
    (export / "test" / ".x.jpg.tmp").write_bytes(b"half an image")
    result = verify(export)
    assert result.extra == [".manifest.csv.tmp", "test/.x.jpg.tmp"] and not result.ok
    out = CliRunner().invoke(root, ["verify", str(export)], catch_exceptions=False)
    assert out.exit_code == 1 and "extra        .manifest.csv.tmp" in out.output
