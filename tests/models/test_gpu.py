"""GPU paths (skipped without CUDA): JPEG decoding on the device, bf16/channels_last evaluation and
training, torch.compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.accel import Accel, JpegBytesDataset, collate_bytes, decode_on_device
from models.data import aligned_classes, collect_items, load_rgb, open_export, to_tensor
from models.transforms import EvalTransform

pytestmark = pytest.mark.gpu


def _gpu() -> Accel:
    return Accel(torch.device("cuda"), amp=True, channels_last=True)


def test_gpu_jpeg_decode_matches_the_cpu_eval_transform(make_export):
    export = open_export(make_export("big", {"val": 2}, size=(300, 220)))
    items = collect_items([export], None, aligned_classes([export]))
    ds = JpegBytesDataset(items, None, "eval", 224, 256)
    datas, boxes, _, _ = collate_bytes([ds[i] for i in range(len(ds))])
    gpu = decode_on_device(datas, boxes, torch.device("cuda")).cpu().float()
    cpu = torch.stack([to_tensor(EvalTransform(256, 224)(load_rgb(it.path))) for it in items]).float()
    assert gpu.shape == cpu.shape == (len(items), 3, 224, 224)
    assert (gpu - cpu).abs().mean() < 4.0  # different JPEG decoders and resamplers, same picture


def test_gpu_evaluation_agrees_with_cpu(make_export):
    from models.evaluate import predict
    from models.registry import create_model

    export = open_export(make_export("ev", {"val": 3}, size=(120, 100)))
    items = collect_items([export], None, aligned_classes([export]))
    model = create_model("resnet18", 4).eval()
    cpu = predict(model, items, Accel(torch.device("cpu"), False, False), 64, 56, 8, 0, range(4))
    gpu_model = model.to("cuda").to(memory_format=torch.channels_last)
    fp32 = Accel(torch.device("cuda"), amp=False, channels_last=True)
    gpu = predict(gpu_model, items, fp32, 64, 56, 8, 0, range(4), gpu_decode=True)
    assert np.corrcoef(cpu.ravel(), gpu.ravel())[0, 1] > 0.95  # GPU decoding sees the same pictures
    bf16 = predict(gpu_model, items, _gpu(), 64, 56, 8, 2, range(4), gpu_decode=True)
    assert bf16.shape == cpu.shape and np.isfinite(bf16).all()


def test_gpu_training_bf16_channels_last_and_gpu_decode(make_export, tmp_path):
    from models.recipe import load_recipe
    from models.train import load_train_data, train

    root = make_export("tr", {"train": 8}, size=(64, 64))
    for gpu_decode in (False, True):
        recipe = load_recipe("tiny-cpu", {"model": "resnet18", "epochs": 2, "batch_size": 16, "amp": True,
                                          "channels_last": True, "gpu_decode": gpu_decode})
        last = train(recipe, load_train_data(recipe, [root], None), tmp_path / f"run{gpu_decode}", _gpu())
        assert np.isfinite(last["train_loss"])


@pytest.mark.slow
def test_torch_compile_evaluation(make_export):
    from models.accel import prepare_model
    from models.evaluate import predict
    from models.registry import create_model

    export = open_export(make_export("cp", {"val": 2}, size=(64, 64)))
    items = collect_items([export], None, aligned_classes([export]))
    accel = Accel(torch.device("cuda"), amp=True, channels_last=True, compile=True)
    model = prepare_model(create_model("resnet18", 4), accel)
    out = predict(model, items, accel, 64, 56, 4, 0, range(4))
    assert out.shape == (8, 4) and np.isfinite(out).all()
