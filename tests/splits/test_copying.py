import hashlib
import os

import pytest

from splits.copying import BLOCK, CopyJob, copy_all, read_one


@pytest.mark.parametrize("size", [0, 1, 3700, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17])
@pytest.mark.parametrize("link", [False, True])
def test_copies_hash_every_byte_around_the_read_block(tmp_path, size, link):
    data = os.urandom(size)
    src = tmp_path / "src.jpg"
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    [result] = copy_all([CopyJob(str(src), str(tmp_path / "out" / "a" / "b.jpg"))], link=link)
    assert (result.sha256, result.n_bytes, result.error) == (digest, size, "")
    assert (tmp_path / "out" / "a" / "b.jpg").read_bytes() == data
    assert read_one(CopyJob(str(src), ""))[1:] == (data, digest, "")


def test_failures_are_data_in_job_order_and_leave_no_file(tmp_path):
    good, altered = tmp_path / "good.jpg", tmp_path / "altered.jpg"
    good.write_bytes(b"good")
    altered.write_bytes(b"changed")
    jobs = [CopyJob(str(tmp_path / "gone.jpg"), str(tmp_path / "out" / "gone.jpg")),
            CopyJob(str(altered), str(tmp_path / "out" / "altered.jpg"), hashlib.sha256(b"original").hexdigest()),
            CopyJob(str(tmp_path), str(tmp_path / "out" / "folder.jpg")),
            CopyJob(str(good), str(tmp_path / "out" / "good.jpg"), hashlib.sha256(b"good").hexdigest())]
    results = copy_all(jobs, threads=2)
    assert [r.job for r in results] == jobs
    assert [r.error.split(":")[0] for r in results] == ["missing", "altered", "unreadable", ""]
    assert sorted(os.listdir(tmp_path / "out")) == ["good.jpg"]
