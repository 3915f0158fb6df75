"""DeepAugment generation from an export in an object store into an object store (moto's S3 server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from models.deepaugment.generate import GenerateConfig, generate, progress_dir
from splits import frozen


def _upload(fs, local: Path, url: str) -> None:
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.put_file(str(path), f"{url.removeprefix('s3://')}/{path.relative_to(local).as_posix()}")


def _download(fs, url: str, local: Path) -> Path:
    base = url.removeprefix("s3://")
    for key in fs.find(base):
        target = local / key[len(base) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(fs.cat_file(key))
    return local


def test_generation_reads_and_writes_the_store_and_matches_a_local_run(export, edsr_weights, s3_url, tmp_path,
                                                                       monkeypatch):
    from s3fs import S3FileSystem

    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    fs = S3FileSystem()
    _upload(fs, export, f"{s3_url}/exports/tiny")
    fs.put_file(str(edsr_weights), f"{s3_url.removeprefix('s3://')}/weights/edsr.pt")
    remote_cfg = GenerateConfig("edsr", f"{s3_url}/weights/edsr.pt", side=8, shard_size=4, batch=3)
    out = f"{s3_url}/exports/tiny-edsr"
    result = generate(remote_cfg, f"{s3_url}/exports/tiny", out, workers=1)
    assert result.written == 6 and not result.failed and result.shards_run == 2
    assert not progress_dir(out).exists()

    local_out = tmp_path / "local-edsr"
    generate(GenerateConfig("edsr", str(edsr_weights), side=8, shard_size=4, batch=3), export, local_out, workers=1)
    fetched = _download(fs, out, tmp_path / "fetched")
    assert frozen.verify(fetched).ok
    assert frozen.list_files(fetched) == frozen.list_files(local_out)
    for rel in frozen.list_files(local_out):
        if rel.endswith(".jpg"):  # same seed, same weights: byte-identical images wherever they were written
            assert (fetched / rel).read_bytes() == (local_out / rel).read_bytes(), rel
    rows = frozen.read_export(fetched).rows
    assert {r.source_id for r in rows} == {r.path for r in frozen.read_export(export).rows}
    assert all(hashlib.sha256((fetched / r.path).read_bytes()).hexdigest() == r.sha256 for r in rows)

    again = generate(remote_cfg, f"{s3_url}/exports/tiny", out, workers=1)  # finished: nothing to redo
    assert again.shards_run == 0 and again.written == 6


def test_generate_and_verify_commands_take_urls(export, edsr_weights, s3_url, tmp_path, monkeypatch, cli):
    from s3fs import S3FileSystem

    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    fs = S3FileSystem()
    _upload(fs, export, f"{s3_url}/exports/tiny")
    fs.put_file(str(edsr_weights), f"{s3_url.removeprefix('s3://')}/weights/edsr.pt")
    out = f"{s3_url}/exports/tiny-edsr"
    result = cli("deepaugment", "generate", "--method", "edsr", "--train", f"{s3_url}/exports/tiny", "--out", out,
                 "--weights", f"{s3_url}/weights/edsr.pt", "--side", "8", "--shard-size", "4", "--workers", "1")
    assert f"edsr: 6 images in {out}" in result.output
    assert cli("verify", out).output.strip().endswith("OK")
    missing = cli("deepaugment", "generate", "--method", "edsr", "--train", str(tmp_path / "nowhere"), "--out",
                  str(tmp_path / "x"), "--weights", str(edsr_weights), ok=False)
    assert missing.exit_code != 0 and "no such export folder" in missing.output
