import pytest

from curation.errors import CurateError
from curation.taxonomy import builtin_class_set, load_class_file, rendition_keywords


def test_imagenet_r_table_is_the_reference():
    classes = builtin_class_set("imagenet-r")
    indices = [c.logit_index for c in classes]
    assert len(classes) == 200 and len(set(indices)) == 200
    assert indices == sorted(indices) and all(0 <= i < 1000 for i in indices)
    assert classes[-1].key == "n12267677"


def test_rendition_keywords():
    paper = rendition_keywords(paper_only=True)
    for word in ("art", "cartoon", "graffiti", "embroidery", "graphics", "origami", "painting", "pattern",
                 "plastic object", "plush object", "sculpture", "tattoo", "toy", "video game", "sketch"):
        assert word in paper
    assert "line drawing" in rendition_keywords()


def test_load_class_file_csv_and_toml(tmp_path):
    csv_file = tmp_path / "birds.csv"
    csv_file.write_text("name,definition\nBlue Jay,a jay\nrobin,\n")
    classes = load_class_file(csv_file)
    assert [c.key for c in classes] == ["blue_jay", "robin"]
    toml_file = tmp_path / "cars.toml"
    toml_file.write_text('[[class]]\nname = "sedan"\nkey = "s"\nlogit_index = 3\n[[class]]\nname = "van"\n')
    assert [(c.key, c.logit_index) for c in load_class_file(toml_file)] == [("s", 3), ("van", None)]
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nx\nx\n")
    with pytest.raises(CurateError, match="twice"):
        load_class_file(bad)
    other = tmp_path / "x.json"
    other.write_text("{}")
    with pytest.raises(CurateError, match="must be"):
        load_class_file(other)
