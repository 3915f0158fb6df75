"""Object-store locations: a local path or an ``fsspec`` URL (``s3://bucket/prefix``, ``gs://``, ...).

Everything remote goes through ``fsspec`` (``s3fs`` for S3); there is no hand-written client. Credentials
come only from the storage library's own configuration: for S3, botocore's environment variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` ...) and ``~/.aws``. The only setting
curate adds is the endpoint of an S3-compatible server (MinIO, Ceph, a test server), which is not a
secret: ``[store] endpoint_url`` in ``curate.toml`` or ``CURATE_STORE_ENDPOINT`` / ``AWS_ENDPOINT_URL``.

Atomicity: an object-store PUT (and a completed multipart upload) makes an object appear whole or not
at all, so remote writes go straight to their final key once the full content is known.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from curation.errors import CurateError

# keys that would put a secret into curate.toml; refused with a message naming the standard places
SECRET_KEYS = frozenset({"key", "secret", "token", "password", "access_key", "secret_key", "session_token",
                         "aws_access_key_id", "aws_secret_access_key", "aws_session_token"})
STORE_KEYS = frozenset({"endpoint_url", "region"})


def is_url(location: str | os.PathLike | None) -> bool:
    """True for ``proto://...`` locations other than plain local files."""
    if location is None or isinstance(location, os.PathLike):
        return False
    text = str(location)
    return "://" in text and not text.startswith("file://")


def join(base: str | Path, *parts: str) -> str | Path:
    """``base / parts`` for a folder, ``base/parts`` for a URL."""
    if is_url(base):
        return "/".join([str(base).rstrip("/"), *(p.strip("/") for p in parts)])
    return Path(base).joinpath(*parts)


def storage_options(url: str, config: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """fsspec options for ``url``: only the endpoint (and region) of an S3-compatible server, never secrets."""
    environ = os.environ if environ is None else environ
    config = dict(config or {})
    check_no_secrets(config, url)
    if not url.startswith(("s3://", "s3a://")):
        return {}
    endpoint = environ.get("CURATE_STORE_ENDPOINT") or config.get("endpoint_url") or environ.get("AWS_ENDPOINT_URL")
    client: dict[str, Any] = {}
    if endpoint:
        client["endpoint_url"] = str(endpoint)
    if config.get("region"):
        client["region_name"] = str(config["region"])
    return {"client_kwargs": client} if client else {}


def check_no_secrets(config: Mapping[str, Any], url: str = "") -> None:
    """Refuse credentials in curate.toml's ``[store]`` table or inside a store URL."""
    found = sorted(k for k in config if k.lower() in SECRET_KEYS)
    if found:
        raise CurateError(f"curate.toml [store] holds {', '.join(found)}: credentials never go in curate.toml. "
                          "Remove them and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with "
                          "~/.aws/credentials) in the environment instead")
    unknown = sorted(k for k in config if k not in STORE_KEYS and k.lower() not in SECRET_KEYS)
    if unknown:
        raise CurateError(f"curate.toml [store]: unknown key(s) {', '.join(unknown)}; valid keys are "
                          f"{', '.join(sorted(STORE_KEYS))}")
    if url and is_url(url) and urlsplit(url).password:
        raise CurateError(f"the store URL {url.split('@')[-1]} carries a password: put credentials in the "
                          "environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) or ~/.aws, not in the URL")


def filesystem(url: str, options: Mapping[str, Any] | None = None):
    """(fsspec filesystem, path inside it) for ``url``; a clear error when its protocol is not installed."""
    import fsspec.core

    opts = dict(options) if options is not None else storage_options(url)
    try:
        return fsspec.core.url_to_fs(url, **opts)
    except (ImportError, ValueError) as exc:
        raise CurateError(f"cannot open {url}: {exc}; install the fsspec package for its protocol "
                          "(e.g. pip install s3fs for s3://)") from exc


def read_bytes(location: str | Path) -> bytes:
    """The bytes of a local file or of an object at a URL."""
    if is_url(location):
        fs, path = filesystem(str(location))
        return fs.cat_file(path)
    fd = os.open(location, os.O_RDONLY)  # no buffered file object: hashing reads thousands of small files a second
    try:
        size = os.fstat(fd).st_size
        chunks = [os.read(fd, size + 1)]
        while chunks[-1]:  # a file that grew since fstat, or a filesystem that returns short reads
            chunks.append(os.read(fd, 1 << 20))
        return chunks[0] if len(chunks) == 2 else b"".join(chunks)
    finally:
        os.close(fd)


def write_bytes(location: str | Path, data: bytes) -> None:
    """Write ``data`` whole: a temporary file renamed into place locally, a single PUT to an object store."""
    if is_url(location):
        fs, path = filesystem(str(location))
        fs.pipe_file(path, data)
        return
    target = Path(location)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
