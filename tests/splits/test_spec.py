import tomllib

import pytest

from curation.errors import CurateError
from splits.spec import load_spec, parse_spec, preset_names

BASE = """
name = "s"
class_set = "svsf"
[source]
kind = "table"
[labels]
from = "column"
column = "class"
[train]
where = { country = ["US"], year = 2019 }
[iid_test]
size = 10
[[ood]]
name = "y17"
change = { year = 2017 }
size = 5
"""


def spec(text: str = BASE, **replace):
    data = tomllib.loads(text)
    for key, value in replace.items():
        section, _, field = key.partition("__")
        if field:
            data.setdefault(section, {})[field] = value
        elif value is None:
            data.pop(section, None)
        else:
            data[section] = value
    return parse_spec(data, "test.toml")


def test_presets_load_and_describe_the_papers():
    assert {"imagenet-r", "svsf", "dfr", "generic"} <= set(preset_names())
    svsf = load_spec("svsf")
    assert svsf.train.size == 200_000 and svsf.iid_test.size == 10_000
    assert svsf.train.where == {"country": ("US", "Mexico", "Canada"), "year": ("2019",), "camera": ("new",)}
    assert [(o.name, o.size) for o in svsf.ood] == [("year_2017", 10_000), ("year_2018", 10_000),
                                                    ("country_france", 10_000), ("camera_old", 10_000)]
    # an OOD set keeps every other training value
    assert svsf.ood[2].where == {"country": ("France",), "year": ("2019",), "camera": ("new",)}
    dfr = load_spec("dfr")
    assert dfr.multi_label and dfr.train.where == {"df2_split": ("train",), "scale": ("2",), "occlusion": ("2",),
                                                   "viewpoint": ("2",), "zoom_in": ("1",)}
    # the released eval.sh: the IID test and the 8 OOD sets of the validation split, nothing sampled or capped
    released = {"iid_test": ("2", "2", "2", "1"), "scale_1": ("1", "2", "2", "1"), "scale_3": ("3", "2", "2", "1"),
                "occlusion_1": ("2", "1", "2", "1"), "occlusion_3": ("2", "3", "2", "1"),
                "viewpoint_1": ("2", "2", "1", "1"), "viewpoint_3": ("2", "2", "3", "1"),
                "zoom_in_2": ("2", "2", "2", "2"), "zoom_in_3": ("2", "2", "2", "3")}
    for name, concat in (("dfr", False), ("dfr-concat", True)):
        preset = load_spec(name)
        tests = [preset.iid_test, *preset.ood]
        assert [t.name for t in tests] == list(released)
        for t in tests:
            s, o, v, z = released[t.name]
            split = ("train", "validation") if concat else ("validation",)
            assert dict(t.where) == {"df2_split": split, "scale": (s,), "occlusion": (o,), "viewpoint": (v,),
                                     "zoom_in": (z,)}
            assert t.size is None and t.fraction is None
        assert preset.train == dfr.train and preset.disjoint_by == "none" and preset.separate_tests
    inr = load_spec("imagenet-r")
    assert inr.subsets == ["test"] and inr.layout == "class" and inr.labels_from == "reviewed"


def test_a_valid_spec_parses():
    parsed = spec()
    assert parsed.subsets == ["train", "iid_test", "y17"] and parsed.ood[0].where["country"] == ("US",)
    assert parsed.sha256() == spec().sha256()


@pytest.mark.parametrize("change, message", [
    ({"bogus": 1}, "unknown key(s) bogus"),
    ({"class_set": None}, "class_set is required"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"source__kind": "ftp"}, "source.kind 'ftp' is not one of"),
    ({"labels__from": "magic"}, "labels.from 'magic' is not valid"),
    ({"labels__from": "reviewed"}, "a metadata-table split takes labels from a column"),
    ({"iid_test__fraction": 0.1}, "not both"),
    ({"iid_test": {}}, "exactly one of size"),
    ({"test": {"where": {"year": 2018}}, "ood": [{"name": "x", "change": {"year": 2017}}]},
     "which [test] where already sets"),
    ({"test": {"size": 3}}, "unknown key(s) size in [test]"),
    ({"iid_test": {"fraction": 1.5}}, "fraction must be a number between 0 and 1"),
    ({"iid_test": {"size": -3}}, "iid_test.size must be a positive integer"),
    ({"ood": [{"name": "x", "change": {"year": 2017, "country": "FR"}}]}, "must change exactly one attribute"),
    ({"ood": [{"name": "x", "change": {"camera": "old"}}]}, "which train.where does not fix"),
    ({"ood": [{"name": "x", "change": {"year": 2019}}]}, "which train also uses"),
    ({"ood": [{"name": "../x", "change": {"year": 2017}}]}, "must be a name of letters"),
    ({"ood": [{"name": "iid_test", "change": {"year": 2017}}]}, "used twice"),
    ({"train": None, "iid_test": None, "ood": []}, "defines no subset"),
    ({"train": None}, "[iid_test] is drawn from the training distribution"),
    ({"leakage": {"max_distance": 99}}, "max_distance must be an integer 0-20"),
    ({"export": {"layout": "class"}}, "needs exactly one subset"),
    ({"export": {"layout": "sideways"}}, "export.layout must be one of"),
])
def test_spec_errors_name_the_problem(change, message):
    with pytest.raises(CurateError) as err:
        spec(**change)
    assert message in str(err.value)


def test_unknown_preset_lists_presets_and_bad_toml_is_reported(tmp_path):
    with pytest.raises(CurateError, match="presets: dfr, dfr-concat, generic, imagenet-r, in200, mini-r, svsf"):
        load_spec("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(CurateError, match="not valid TOML"):
        load_spec(bad)


def test_a_spec_files_table_path_is_relative_to_the_file(tmp_path):
    (tmp_path / "specs").mkdir()
    path = tmp_path / "specs" / "s.toml"
    path.write_text(BASE.replace('kind = "table"', 'kind = "table"\ntable = "../data/t.csv"'))
    assert load_spec(path).table == str(tmp_path / "specs" / "../data/t.csv")


def test_new_options_are_validated_and_command_line_overrides_are_recorded():
    spec = load_spec("imagenet-r")
    assert spec.labels_from == "reviewed" and not spec.include_rejected
    changed = spec.with_options(**{"labels.from": "source", "export.include_rejected": True})
    assert changed.labels_from == "source" and changed.include_rejected
    assert changed.raw["labels"]["from"] == "source" and spec.raw["labels"]["from"] == "reviewed"
    with pytest.raises(CurateError, match="export.include_rejected must be true or false"):
        spec.with_options(**{"export.include_rejected": "yes"})
    svsf = load_spec("svsf")
    assert (svsf.disjoint_by, svsf.disjoint_fallback, svsf.tests_apart) == ("business", "image", False)


def test_with_sizes_scales_a_preset_and_records_it():
    svsf = load_spec("svsf")
    small = svsf.with_sizes({"train": 30, "iid_test": 6, "camera_old": None}, name="tiny", seed=5)
    assert (small.name, small.seed, small.train.size, small.iid_test.size) == ("tiny", 5, 30, 6)
    assert [(o.name, o.size) for o in small.ood] == [("camera_old", None)]  # unnamed OOD tests left out
    assert small.ood[0].where == svsf.ood[3].where and small.train.where == svsf.train.where
    assert small.raw["train"]["size"] == 30 and "size" not in small.raw["ood"][0]
    assert load_spec("svsf").train.size == 200_000  # the preset itself is untouched
    generic = load_spec("generic").with_sizes({"iid_test": 4})
    assert (generic.iid_test.size, generic.iid_test.fraction) == (4, None)  # a size replaces the fraction
    with pytest.raises(CurateError, match="has no subset.s. nope; its subsets: train, iid_test"):
        svsf.with_sizes({"nope": 3})
