import pytest

from curation.parallel import map_unordered


def square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("kind,workers", [("threads", 4), ("processes", 2), ("processes", 1)])
def test_map_unordered_returns_every_result(kind, workers):
    assert sorted(map_unordered(square, range(50), workers=workers, kind=kind, max_pending=3)) == \
        [x * x for x in range(50)]


def test_unknown_kind_names_the_valid_ones():
    with pytest.raises(ValueError, match="threads, processes"):
        list(map_unordered(square, [1], kind="fibers"))
