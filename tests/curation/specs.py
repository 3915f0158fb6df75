"""Split specs shared by the end-to-end CLI tests (kill/resume, hostile input)."""

from __future__ import annotations


def photos_spec(where: str = "{}") -> str:
    """``photos``: a database split of the imported images, labels from their import-time class hint,
    the training set taking the images that match ``where`` (a TOML inline table)."""
    return f"""
name = "photos"
class_set = "imagenet-r"
seed = 1
[source]
kind = "db"
[labels]
from = "source"
[train]
where = {where}
"""
