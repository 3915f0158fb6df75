"""Writers that pack images into containers: WebDataset tar shards and Parquet files.

Both are deterministic: tar members carry fixed owners, modes and mtime 0 and come in manifest order;
Parquet files are written from Arrow tables with a fixed schema. A manifest row of such an export
points into its container as ``<container>#<member>``.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any, Iterable, Sequence

SEP = "#"


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def wds_key(file_name: str) -> str:
    """A WebDataset sample key: the file's stem with every '.' replaced (keys end at the first dot)."""
    stem = file_name.rsplit(".", 1)[0]
    return stem.replace(".", "_")


def write_tar(path: Path, samples: Iterable[tuple[str, str, bytes, dict[str, Any], int | None]]) -> None:
    """One shard: per sample ``key.ext`` (the image), ``key.json`` (labels, metadata), ``key.cls``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for key, ext, data, meta, cls in samples:
            tar.addfile(_tar_info(f"{key}.{ext}", len(data)), io.BytesIO(data))
            blob = json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")
            tar.addfile(_tar_info(f"{key}.json", len(blob)), io.BytesIO(blob))
            if cls is not None:
                text = str(cls).encode()
                tar.addfile(_tar_info(f"{key}.cls", len(text)), io.BytesIO(text))


def write_parquet(path: Path, records: Sequence[dict[str, Any]], meta_cols: Sequence[str]) -> None:
    """One subset as Parquet: ``image`` {bytes, path} (the Hugging Face Image layout), labels, metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    fields = [("image", image_type), ("sha256", pa.string()), ("label", pa.string()),
              ("labels", pa.list_(pa.string())), *((c, pa.string()) for c in meta_cols)]
    schema = pa.schema(fields)
    columns = {
        "image": [{"bytes": r["bytes"], "path": r["file_name"]} for r in records],
        "sha256": [r["sha256"] for r in records], "label": [r["label"] for r in records],
        "labels": [list(r["labels"]) for r in records],
        **{c: [r["meta"].get(c, "") for r in records] for c in meta_cols}}
    table = pa.table(columns, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="none", row_group_size=1024, write_statistics=False)


_INDEX: dict[tuple, dict[str, Any]] = {}  # per process: container (path, mtime, size) -> member -> location


def read_member(root: Path, path: str) -> bytes:
    """The bytes of ``<container>#<member>`` (tar or parquet) or of a plain file.

    Each container is indexed once per process, so reading every member (a training epoch) is linear.
    """
    if "://" in str(root):  # an export in an object store, read in place
        from splits.remote import read_remote_member

        return read_remote_member(str(root), path)
    container, sep, member = path.partition(SEP)
    if not sep:
        return (Path(root) / path).read_bytes()
    full = str(Path(root) / container)
    stat = Path(full).stat()
    key = (full, stat.st_mtime_ns, stat.st_size)
    if key not in _INDEX:
        if container.endswith(".tar"):
            with tarfile.open(full) as tar:
                _INDEX[key] = {m.name: (m.offset_data, m.size) for m in tar.getmembers() if m.isfile()}
        else:
            import pyarrow.parquet as pq

            column = pq.read_table(full, columns=["image"]).column("image").to_pylist()
            _INDEX[key] = {v["path"]: v["bytes"] for v in column}
    where = _INDEX[key].get(member)
    if where is None:
        raise KeyError(member)
    if isinstance(where, bytes):
        return where
    with open(full, "rb") as fh:
        fh.seek(where[0])
        return fh.read(where[1])


def container_digests(root: Path, container: str) -> dict[str, str]:
    """member -> sha256 of every image in one container (for verify)."""
    import hashlib

    out: dict[str, str] = {}
    full = Path(root) / container
    if container.endswith(".tar"):
        with tarfile.open(full) as tar:
            for info in tar:
                if info.isfile() and not info.name.endswith((".json", ".cls")):
                    handle = tar.extractfile(info)
                    out[info.name] = hashlib.sha256(handle.read() if handle else b"").hexdigest()
        return out
    import pyarrow.parquet as pq

    for value in pq.read_table(full, columns=["image"]).column("image").to_pylist():
        out[value["path"]] = hashlib.sha256(value["bytes"]).hexdigest()
    return out
