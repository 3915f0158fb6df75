"""The labeling app serves HIT images from an image store in an object store (moto's S3 server)."""

from __future__ import annotations

import io
import re

from PIL import Image

from curation.db.session import connect, upgrade
from curation.store import open_store
from tests.annotate_ui.conftest import build_world, join, make_app, make_hits, new_invite
from tests.annotate_ui.test_security import leased_page


def test_hit_images_are_served_from_s3(s3_url, tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'one.sqlite'}")
    upgrade(engine)
    world = build_world(engine, f"{s3_url}/images")
    make_hits(world, ("cat",))
    client = make_app(world).test_client()
    _, page = leased_page(client, join(client, new_invite(world)))
    sources = re.findall(r'<img src="(/img/[^"]+)" alt="image \d+"', page)
    assert sources
    store = open_store(f"{s3_url}/images")
    stored = {tuple(Image.open(io.BytesIO(store.read(d))).convert("RGB").size) for d in store.iter_digests()}
    for src in sources:
        served = client.get(src)
        assert served.status_code == 200 and served.mimetype == "image/png"
        assert Image.open(io.BytesIO(served.data)).size in stored  # an image of the bucket, re-encoded
    engine.dispose()
