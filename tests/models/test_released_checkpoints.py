"""Weights by name for any torchvision enum, and the ImageNet-R release's checkpoints as distributed:
``{'epoch', 'arch', 'state_dict': {'module.…'}, 'best_acc1', 'optimizer'}`` saved by the PyTorch
ImageNet example under DataParallel."""

import numpy as np
import pytest
import torch
import torchvision

from curation.errors import CurateError
from models.registry import load_model, torchvision_cache_file


def _released(model: torch.nn.Module, arch: str, best) -> dict:
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    sgd.step()  # an optimizer state with momentum buffers, as in the released files
    return {"epoch": 30, "arch": arch, "best_acc1": best, "optimizer": sgd.state_dict(),
            "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}


@pytest.mark.parametrize("best", [torch.tensor(76.1), np.float64(76.1)], ids=["tensor", "numpy"])
def test_released_imagenet_r_checkpoint_loads_as_distributed(tmp_path, best):
    torch.manual_seed(0)
    src = torchvision.models.resnet18(num_classes=1000)
    torch.save(_released(src, "resnet18", best), tmp_path / "deepaugment.pth.tar")
    loaded = load_model(None, tmp_path / "deepaugment.pth.tar")  # the file names its architecture
    assert (loaded.arch, loaded.num_classes, loaded.classes) == ("resnet18", 1000, None)
    src.eval(), loaded.model.eval()
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(loaded.model(x), src(x))
    with pytest.raises(CurateError, match="does not fit"):
        load_model("resnet50", tmp_path / "deepaugment.pth.tar")


def test_any_torchvision_weights_enum_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = torchvision_cache_file("resnet50", "IMAGENET1K_V2")
    assert path.name == torchvision.models.ResNet50_Weights.IMAGENET1K_V2.url.rsplit("/", 1)[1]
    assert path.name != torchvision_cache_file("resnet50", "IMAGENET1K_V1").name
    path.parent.mkdir(parents=True)
    state = torchvision.models.resnet50(num_classes=1000).state_dict()
    torch.save(state, path)
    loaded = load_model("resnet50", "torchvision:IMAGENET1K_V2")
    assert torch.equal(loaded.model.fc.weight, state["fc.weight"])
    assert loaded.source == "torchvision:resnet50.IMAGENET1K_V2"
