"""Model registry: names, attention variants, local weights only."""

from __future__ import annotations

import pytest
import torch

from curation.errors import CurateError
from models.registry import create_model, load_model


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: resnet18, resnet50"):
        create_model("resnet9000", 10)


def test_attention_resnets_use_timm_attn_layer():
    se = create_model("se-resnet50", 7)
    cbam = create_model("cbam-resnet50", 7)
    assert any(type(m).__name__ == "SEModule" for m in se.modules())
    assert any(type(m).__name__ == "CbamModule" for m in cbam.modules())
    assert se.fc.out_features == 7


def test_any_timm_or_torchvision_name():
    assert create_model("test_resnet", 3).eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    assert create_model("mobilenet_v3_small", 5).classifier[-1].out_features == 5


def test_weights_must_be_on_disk(tmp_path):
    with pytest.raises(CurateError, match="not on disk"):
        load_model("resnet18", tmp_path / "resnet18.pth")


def test_loads_torchvision_and_ddp_state_dicts(tmp_path):
    import torchvision

    src = torchvision.models.resnet18(num_classes=1000)
    torch.save(src.state_dict(), tmp_path / "tv.pth")
    loaded = load_model("resnet18", tmp_path / "tv.pth")
    assert loaded.num_classes == 1000 and loaded.classes is None
    assert torch.equal(loaded.model.fc.weight, src.fc.weight)
    # the reference training scripts save {'state_dict': {'module.…': …}}
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "ddp.pth")
    assert torch.equal(load_model("resnet18", tmp_path / "ddp.pth").model.conv1.weight, src.conv1.weight)
    with pytest.raises(CurateError, match="does not fit"):
        load_model("resnet50", tmp_path / "tv.pth")
    with pytest.raises(CurateError, match="architecture"):
        load_model(None, tmp_path / "tv.pth")
