"""The settings paper-row recipes rely on: pretrained starts through torchvision's real cache loader,
pretrained heads kept by logit_index, the 200-of-1000 mask for our own 1000-way checkpoints, the released
step schedule and learning-rate groups, crop-aware draft decoding, squashed evaluation, ImageNet-C
comparability."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from curation.errors import CurateError
from models.accel import Accel
from models.data import ClassInfo
from models.evaluate import head_for, imagenet_c_comparability
from models.metrics import CORRUPTIONS
from models.recipe import load_recipe
from models.runs import load_checkpoint
from models.registry import adapt_head, create_model, load_model, torchvision_cache_file
from models.schedule import make_optimizer
from models.train import load_train_data, train
from models.transforms import EvalTransform, TrainTransform, draft_for_box

CPU = Accel(torch.device("cpu"), amp=False, channels_last=False)
REFERENCE = Path("/work/shared/reference/imagenet_r_classes.csv")
TABLE = Path(__file__).resolve().parents[2] / "curation" / "taxonomy" / "data" / "imagenet_r_classes.csv"


@pytest.fixture
def seeded_torch_cache(tmp_path, monkeypatch):
    """TORCH_HOME with a resnet18 IMAGENET1K_V1 file of random weights: what torchvision finds offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = torchvision_cache_file("resnet18", "IMAGENET1K_V1")
    path.parent.mkdir(parents=True)
    state = create_model("resnet18", 1000).state_dict()
    torch.save(state, path)
    return path, state


def test_torchvision_weights_by_name_load_from_the_cache(seeded_torch_cache):
    path, state = seeded_torch_cache
    assert path.name == "resnet18-f37072fd.pth"  # the file name in torchvision's ResNet18_Weights.IMAGENET1K_V1 url
    loaded = load_model("resnet18", "torchvision:IMAGENET1K_V1")
    got = loaded.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items())
    assert (loaded.num_classes, loaded.source) == (1000, "torchvision:resnet18.IMAGENET1K_V1")


def test_missing_weights_offline_say_where_the_file_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(CurateError, match=r"resnet18-f37072fd\.pth .*copy it from https://download\.pytorch\.org"):
        load_model("resnet18", "torchvision:IMAGENET1K_V1")
    with pytest.raises(CurateError, match="no weights 'IMAGENET9K'"):
        load_model("resnet18", "torchvision:IMAGENET9K")
    with pytest.raises(CurateError, match="init must be scratch, torchvision:WEIGHTS, timm:TAG"):
        load_recipe("tiny-cpu", {"init": "hub:resnet"})


def test_pretrained_head_rows_follow_logit_index():
    model = create_model("resnet18", 1000)
    old_w, old_b = model.fc.weight.detach().clone(), model.fc.bias.detach().clone()
    classes = [ClassInfo("a", "a", 5), ClassInfo("b", "b", 2), ClassInfo("c", "c", 7)]
    assert adapt_head(model, classes) == "kept"
    assert torch.equal(model.fc.weight, old_w[[5, 2, 7]]) and torch.equal(model.fc.bias, old_b[[5, 2, 7]])
    fresh = create_model("resnet18", 1000)
    assert adapt_head(fresh, [ClassInfo("a", "a", None), ClassInfo("b", "b", 1)]) == "new"
    assert fresh.fc.out_features == 2


def test_training_starts_from_the_cached_weights(seeded_torch_cache, make_export, tmp_path):
    _, state = seeded_torch_cache
    photos = make_export("photos", {"train": 4})
    recipe = load_recipe("tiny-cpu", {"model": "resnet18", "init": "torchvision:IMAGENET1K_V1", "epochs": 1,
                                      "batch_size": 8, "lr": 0.0, "weight_decay": 0.0,
                                      "schedule": "constant"})
    train(recipe, load_train_data(recipe, [photos], None), tmp_path / "run", CPU)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["start"] == {"init": "torchvision:IMAGENET1K_V1", "source": "torchvision:resnet18.IMAGENET1K_V1",
                               "head": "new"}
    ckpt = load_checkpoint(tmp_path / "run")
    assert torch.equal(ckpt["model"]["conv1.weight"], state["conv1.weight"])  # lr 0: still the cached weights
    assert ckpt["model"]["fc.weight"].shape == (4, 512)


def test_a_1000_way_recipe_refuses_a_200_class_export(make_export):
    photos = make_export("photos", {"train": 2})
    with pytest.raises(CurateError, match="trains a 1000-way model .* hold 4 classes"):
        load_train_data(load_recipe("deepaugment", {"model": "test_resnet"}), [photos], None)


def _reference_table() -> list[dict]:
    path = REFERENCE if REFERENCE.exists() else TABLE
    return sorted(csv.DictReader(io.StringIO(path.read_text())), key=lambda r: int(r["position"]))


def test_our_1000_way_checkpoint_gets_the_200_logit_mask():
    table = _reference_table()
    slot = {int(r["imagenet_index"]): r["wnid"] for r in table}
    keys = [slot.get(i, f"other{i}") for i in range(1000)][::-1]  # our class order: reversed, to map by key
    model_classes = [{"key": k, "name": k, "logit_index": None} for k in keys]
    export = [ClassInfo(r["wnid"], r["wnid"]) for r in table[:3]]
    export = [type("C", (), {"key": c.key, "index": i})() for i, c in enumerate(export)]
    head = head_for(export, 1000, model_classes)
    assert head.protocol == "imagenet-r-200-of-1000"
    assert head.keep == [999 - int(r["imagenet_index"]) for r in table]  # position of each wnid in reversed order
    assert head.position[table[2]["wnid"]] == 2
    small = [{"key": f"k{i}"} for i in range(4)]
    assert head_for([type("C", (), {"key": "k1", "index": 0})()], 4, small).protocol == "model-classes"


def test_learning_rate_groups_and_batch_scaling():
    r = load_recipe("augmix", {"epochs": 11, "batch_size": 512})  # the schedule itself: test_schedule.py
    model = create_model("resnet18", 5)
    sgd = make_optimizer(r, model)
    assert [g["lr"] for g in sgd.param_groups] == pytest.approx([0.2])
    assert sgd.defaults["nesterov"] is False
    dfr = load_recipe("dfr")
    adam = make_optimizer(dfr, model)
    backbone, head = adam.param_groups
    assert (backbone["lr"], head["lr"], adam.defaults["weight_decay"]) == (1e-5, 1e-4, 0.0)
    assert {id(p) for p in head["params"]} == {id(model.fc.weight), id(model.fc.bias)}
    assert len(backbone["params"]) == len(list(model.parameters())) - 2


def _jpeg(size: tuple[int, int]):
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    buf.seek(0)
    return Image.open(buf)


def test_draft_keeps_the_crop_box_at_or_above_the_output_size():
    img = _jpeg((1024, 768))
    # box 200 x 100 at (100, 100), output 32: need scale >= 32/100 -> ask (ceil(327.68), ceil(245.76)) = (328, 246);
    # Pillow's DCT scales are 1/1, 1/2, 1/4, 1/8: 1/2 gives 512 x 384 >= the request, 1/4 gives 256 < 328
    box = draft_for_box(img, (100, 100, 200, 100), 32)
    assert img.size == (512, 384) and box == pytest.approx((50, 50, 100, 50))
    img = _jpeg((1024, 768))
    assert draft_for_box(img, (0, 0, 30, 30), 32) == (0, 0, 30, 30) and img.size == (1024, 768)  # no reduction


def test_draft_and_full_decoding_crop_the_same_box():
    full = TrainTransform(32, scale=(0.5, 1.0))(_jpeg((640, 480)).convert("RGB"), np.random.default_rng(3))
    draft = TrainTransform(32, scale=(0.5, 1.0), draft=True)(_jpeg((640, 480)), np.random.default_rng(3))
    # the same random box and flip: only the decoder's scaling differs (noise image: a loose bound)
    diff = np.abs(np.asarray(full, dtype=np.float32) - np.asarray(draft, dtype=np.float32)).mean()
    assert full.size == draft.size == (32, 32) and diff < 40


def test_squashed_evaluation_ignores_the_aspect():
    from PIL import Image

    img = Image.new("RGB", (60, 40), (10, 20, 30))
    assert EvalTransform(20, 0, squash=True)(img).size == (20, 20)
    assert EvalTransform(20, 0)(img).size == (30, 20)


def test_imagenet_c_comparability():
    full = {(c, s): 0.5 for c in CORRUPTIONS for s in range(1, 6)}
    sets = [{"classes": 1000, "outputs": 1000}]
    assert imagenet_c_comparability(full, sets) == {"comparable": True, "not_comparable_because": ""}
    partial = dict(full)
    partial.pop(("fog", 3))
    out = imagenet_c_comparability(partial, [{"classes": 200, "outputs": 1000}])
    assert not out["comparable"] and "1 of the 75" in out["not_comparable_because"]
    assert "200 classes" in out["not_comparable_because"]


def test_legacy_fields_and_merged_aug_options():
    assert load_recipe("tiny-cpu", {"amp": "true"}).precision == "bf16"
    assert load_recipe("tiny-cpu", {"init_weights": "w.pth"}).init == "w.pth"
    r = load_recipe("dfr-stylized", {"aug_options": {"style-transfer": {"vgg": "v.pth"}}})
    assert r.aug_options["style-transfer"] == {"p": 0.5, "vgg": "v.pth"}
    assert load_recipe("dfr-speckle", {"aug": "augmix"}).aug_options == {}


def test_evaluate_cli_with_weights_by_name_records_start_and_precision(seeded_torch_cache, cli, make_export,
                                                                       tmp_path):
    wnids = [r["wnid"] for r in _reference_table()[:4]]
    rend = make_export("rend", {"test": 2}, keys=wnids, style="rendition")
    out = tmp_path / "eval"
    res = cli("evaluate", "--model", "resnet18", "--weights", "torchvision:IMAGENET1K_V1", "--sets", rend,
              "--workers", "0", "--resize", "36", "--crop", "32", "--out", out, "--no-verify")
    results = json.loads((out / "results.json").read_text())
    assert results["start"] == "torchvision:resnet18.IMAGENET1K_V1" and results["precision"] == "fp32"
    assert results["preprocessing"]["decode"] == "full"
    assert {r["protocol"] for r in results["sets"].values()} == {"imagenet-r-200-of-1000"}
    assert "| torchvision:resnet18.IMAGENET1K_V1 | fp32 |" in res.output


def test_noise2net_with_augmix_trains(make_export, tmp_path):
    photos = make_export("photos", {"train": 2})
    recipe = load_recipe("tiny-cpu", {"model": "test_resnet", "aug": "noise2net+augmix", "epochs": 1,
                                      "batch_size": 8})
    last = train(recipe, load_train_data(recipe, [photos], None), tmp_path / "run", CPU)
    assert np.isfinite(last["train_loss"]) and last["images"] == 8
