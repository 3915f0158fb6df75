"""Evaluation protocols: ImageNet-R masking of 1000-way models, native heads, the DFR metric, ImageNet-C sets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.accel import Accel
from models.data import open_export
from models.evaluate import evaluate_export, head_for, imagenet_r_table, summarise

CPU = Accel(torch.device("cpu"), amp=False, channels_last=False)


class ColourTo1000(torch.nn.Module):
    """A 1000-way 'model': logit k of each of ``indices`` is the mean of colour channel k; index 0 (tench,
    not an ImageNet-R class) always wins over all 1000 logits."""

    def __init__(self, indices: list[int]):
        super().__init__()
        self.indices = indices
        self.fc = torch.nn.Linear(1, 1000)

    def forward(self, x):
        out = torch.zeros(x.shape[0], 1000)
        out[:, 0] = 100.0
        for channel, index in enumerate(self.indices):
            out[:, index] = x[:, channel].mean((1, 2)) * 5
        return out


def test_imagenet_r_protocol_scores_a_1000_way_model_on_the_200_logits(make_export):
    table = imagenet_r_table()
    wnids = [r["wnid"] for r in table[:3]]  # red, green, blue classes in the fixture's colours
    root = make_export("renditions", {"test": 4}, keys=wnids, n_classes=3, style="photo")
    export = open_export(root)
    head = head_for(export.classes, 1000, None)
    assert head.protocol == "imagenet-r-200-of-1000" and len(head.keep) == 200
    model = ColourTo1000([int(r["imagenet_index"]) for r in table[:3]])
    res = evaluate_export(model, export, None, CPU, 36, 32, batch_size=5, workers=0)["renditions:test"]
    assert res["n"] == 12 and res["error"] == 0.0  # index 0 would win without the mask
    assert res["kind"] == "imagenet-r"


def test_native_head_and_the_released_dfr_metric(make_export):
    root = make_export("dfr", {"iid_test": 3, "scale_1": 3}, keys=["top", "skirt", "dress"], n_classes=3,
                       multi_label=True)
    export = open_export(root)
    model = ColourTo1000([0, 1, 2])
    model.forward = lambda x: torch.stack([x[:, c].mean((1, 2)) for c in range(3)], 1)  # native 3-way
    results = evaluate_export(model, export, None, CPU, 36, 32, batch_size=4, workers=0, n_outputs=3)
    assert set(results) == {"dfr:iid_test", "dfr:scale_1"}
    assert all(r["kind"] == "dfr" and 0 <= r["dfr_weighted_pr_auc"] <= 1 for r in results.values())
    assert "mAP" not in results["dfr:scale_1"]
    summary = summarise(results)
    assert summary["dfr"]["n_ood_sets"] == 1 and results["dfr:iid_test"]["role"] == "iid"
    assert summary["dfr"]["metric"] == "dfr_weighted_pr_auc"
    assert summary["dfr"]["ood_average"] == results["dfr:scale_1"]["dfr_weighted_pr_auc"]
    assert summary["dfr"]["iid"] == results["dfr:iid_test"]["dfr_weighted_pr_auc"]


def test_dfr_score_is_the_released_metric_on_float32_sigmoids():
    """evaluate.score against validate.py's loop, written out with scikit-learn: float32 sigmoid outputs,
    precision_recall_curve + auc per class, weights = share of positive labels, nan_to_num. Class 2 has no
    positive; large logits saturate to tied float32 scores of 1.0."""
    import warnings

    from sklearn import metrics as skm

    from models.data import Item
    from models.evaluate import Head, score

    logits = np.array([[20.0, -1, 0.5], [30.0, 2, 0.1], [0.3, 25, -2], [-4, 0.2, 3], [18, 19, 1], [-1, -2, -3]])
    labels = [(0,), (0, 1), (1,), (0,), (1,), (0, 1)]
    items = [Item(path=None, labels=lab, row=None, export="x") for lab in labels]
    head = Head(keep=[0, 1, 2], position={"a": 0, "b": 1, "c": 2}, protocol="native")
    res = score(logits, items, head, ["a", "b", "c"], multi_label=True)
    preds = torch.sigmoid(torch.tensor(logits, dtype=torch.float32)).numpy()
    gts = np.zeros((6, 3))
    for i, lab in enumerate(labels):
        gts[i, list(lab)] = 1
    areas = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(3):
            precision, recall, _ = skm.precision_recall_curve(gts[:, k], preds[:, k])
            areas.append(skm.auc(recall, precision))
    expected = np.nan_to_num(np.array(areas) * (gts.sum(0) / gts.sum())).sum()
    assert res["dfr_weighted_pr_auc"] == pytest.approx(expected, abs=1e-12)
    assert res["weighted_average_precision"] == pytest.approx(
        skm.average_precision_score(gts[:, :2], preds[:, :2], average="weighted"))


def test_imagenet_r_gap_from_an_iid_set(make_export):
    table = imagenet_r_table()
    wnids = [r["wnid"] for r in table[:3]]
    iid = open_export(make_export("in200", {"val": 3}, keys=wnids, n_classes=3))
    ood = open_export(make_export("rend", {"test": 3}, keys=wnids, n_classes=3, style="rendition", seed=5))
    model = ColourTo1000([int(r["imagenet_index"]) for r in table[:3]])
    sets = {**evaluate_export(model, iid, None, CPU, 36, 32, workers=0),
            **evaluate_export(model, ood, None, CPU, 36, 32, workers=0)}
    summary = summarise(sets, [str(iid.root)])
    row = summary["imagenet-r"]
    assert row["iid_error"] == sets["in200:val"]["error"]
    assert np.isclose(row["gap"], sets["rend:test"]["error"] - sets["in200:val"]["error"])
    json.dumps(summary)


def test_evaluate_cli_with_torchvision_weights(cli, make_export, tmp_path, monkeypatch):
    import torchvision

    monkeypatch.chdir(tmp_path)
    wnids = [r["wnid"] for r in imagenet_r_table()[:4]]
    rend = make_export("imagenet-r", {"test": 2}, keys=wnids, style="rendition", info={"class_set": "imagenet-r"})
    in200 = make_export("imagenet-200", {"test": 2}, keys=wnids, info={"class_set": "imagenet-r"}, seed=4)
    torch.save(torchvision.models.resnet18(num_classes=1000).state_dict(), tmp_path / "r18.pth")
    out = cli("evaluate", "--model", "resnet18", "--weights", tmp_path / "r18.pth", "--sets", rend, in200, "--iid",
              in200, "--resize", "36", "--crop", "32", "--workers", "0", "--out", "eval").output
    assert "imagenet-r:test [imagenet-r, ood]" in out and "imagenet-200:test [imagenet-r, iid]" in out
    assert "| ImageNet-200 error | ImageNet-R error | gap |" in out
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert {r["protocol"] for r in results["sets"].values()} == {"imagenet-r-200-of-1000"}
    assert results["summary"]["imagenet-r"]["gap"] == results["sets"]["imagenet-r:test"]["error"] - \
        results["sets"]["imagenet-200:test"]["error"]
    missing = cli("evaluate", "--model", "resnet18", "--weights", tmp_path / "nope.pth", "--sets", rend, ok=False)
    assert missing.exit_code == 1 and "not on disk" in missing.output


def test_checkpoint_classes_must_cover_the_set(make_export):
    import pytest

    from curation.errors import CurateError

    export = open_export(make_export("other", {"test": 1}, keys=["cat", "dog"], n_classes=2))
    model = ColourTo1000([0, 1])
    with pytest.raises(CurateError, match="no output for class"):
        evaluate_export(model, export, [{"key": "cat"}, {"key": "eel"}], CPU, 36, 32, workers=0)


def test_parallel_cpu_streams_give_the_same_logits_and_restore_threads(make_export, monkeypatch):
    from models.data import collect_items, open_export as open_
    from models.evaluate import predict

    monkeypatch.setattr("models.evaluate.cpu_streams", lambda workers: workers)  # 2 streams even on 1 core
    export = open_(make_export("streams", {"test": 7}, keys=["a", "b", "c"], n_classes=3, style="photo"))
    items = collect_items([export], ["test"], [type("C", (), {"key": k})() for k in ("a", "b", "c")])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    threads = torch.get_num_threads()
    one = predict(model, items, CPU, 36, 32, batch_size=3, workers=1, keep=[0, 1, 2, 3])
    two = predict(model, items, CPU, 36, 32, batch_size=3, workers=2, keep=[0, 1, 2, 3])
    assert one.shape == (21, 4) and np.allclose(one, two, atol=1e-5)
    assert torch.get_num_threads() == threads


def test_each_row_compares_with_its_own_iid_set_and_earlier_roles_stay():
    """The README evaluates one checkpoint twice into one results.json: ImageNet-R + ImageNet-200 (--iid
    in200), then ImageNet-C + ImageNet val (--iid imagenet-val). The gap uses ImageNet-200 only, the clean
    error ImageNet val only, and the first command's roles survive the second's --iid."""
    def res(export, kind, error, classes, subset, **kw):
        return {"kind": kind, "error": error, "classes": classes, "subsets": [subset], "path": f"/x/{export}",
                "export": export, **kw}

    first = {"in200:val": res("in200", "imagenet-r", 0.2, 200, "val"),
             "rend:test": res("rend", "imagenet-r", 0.6, 200, "test")}
    summarise(first, ["in200"])
    assert first["in200:val"]["role"] == "iid"
    later = {**first, "imval:val": res("imval", "classification", 0.3, 1000, "val"),
             "c:fog-1": res("c", "imagenet-c", 0.5, 1000, "val", corruption="fog", severity=1)}
    summary = summarise(later, ["imval"])
    assert later["in200:val"]["role"] == "iid"
    assert summary["imagenet-r"]["iid_error"] == 0.2 and summary["imagenet-r"]["gap"] == pytest.approx(0.4)
    assert summary["imagenet-c"]["clean_error"] == 0.3


def test_progress_hears_every_set_and_every_image(make_export):
    class Recorder:
        def __init__(self):
            self.totals, self.done = {}, {}

        def start(self, name, total):
            self.totals[name], self.done[name], self.current = total, 0, name

        def advance(self, n):
            self.done[self.current] += n

    export = open_export(make_export("prog", {"val": 3, "test": 2}, keys=["a", "b", "c"], n_classes=3))
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    progress = Recorder()
    res = evaluate_export(model, export, None, CPU, 36, 32, batch_size=4, workers=0, n_outputs=3, progress=progress)
    assert progress.totals == progress.done == {"prog:test": 6, "prog:val": 9}
    assert all(r["images_per_s"] > 0 and r["n"] == progress.totals[k] for k, r in res.items())


def test_cpu_prediction_inputs_are_exactly_the_torchvision_reference_presets(tmp_path, monkeypatch):
    """What the model sees on the CPU path (threaded streams, channels-last, uint8 batches normalised on the
    tensor) equals, bit for bit, torchvision's eval preset (Resize, CenterCrop, ToTensor, Normalize) of the
    reference script, for RGB, greyscale and CMYK JPEGs and an RGBA PNG of several sizes."""
    from PIL import Image
    from torchvision import transforms as T

    from models.data import Item
    from models.evaluate import predict
    from splits.frozen import ManifestRow

    monkeypatch.setattr("models.evaluate.cpu_streams", lambda workers: workers)
    rng = np.random.default_rng(5)
    items = []
    for i, (mode, fmt, size) in enumerate([("RGB", "JPEG", (70, 50)), ("RGB", "JPEG", (41, 90)),
                                           ("L", "JPEG", (64, 64)), ("CMYK", "JPEG", (80, 45)),
                                           ("RGBA", "PNG", (50, 77))]):
        arr = (rng.random((size[1], size[0], len(mode))) * 255).astype(np.uint8)
        path = tmp_path / f"img{i}.{fmt.lower()}"
        Image.fromarray(arr.squeeze(), mode).save(path, fmt)
        items.append(Item(path, (0,), ManifestRow(path.name, "", "test", ("a",)), "x"))
    preset = T.Compose([T.Resize(36), T.CenterCrop(32), T.ToTensor(),
                        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    want = torch.stack([preset(Image.open(it.path).convert("RGB")) for it in items]).flatten(1).numpy()
    model = torch.nn.Flatten()
    for accel, workers in ((Accel(torch.device("cpu"), amp=True, channels_last=True), 2), (CPU, 1)):
        got = predict(model, items, accel, 36, 32, batch_size=2, workers=workers, keep=range(3 * 32 * 32))
        assert got.shape == want.shape and np.array_equal(got, want)


def test_bf16_is_applied_on_a_cpu_only_when_asked():
    """``--precision bf16`` autocasts on a CPU as on a GPU, and says so in the stored settings; the default
    stays the release's fp32."""
    from models.accel import autocast
    from models.evaluate import eval_settings

    layer, x = torch.nn.Linear(8, 3), torch.randn(2, 8)
    bf16 = Accel(torch.device("cpu"), amp=True, channels_last=False)
    with autocast(bf16):
        assert layer(x).dtype == torch.bfloat16
    with autocast(CPU):
        assert layer(x).dtype == torch.float32
    assert eval_settings(64, 56, False, False, bf16)["precision"] == "bf16"
    assert eval_settings(64, 56, False, False, CPU)["precision"] == "fp32"
