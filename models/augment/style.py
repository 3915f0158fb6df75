"""Style Transfer baseline: AdaIN (Huang & Belongie) with the normalised VGG-19 encoder up to relu4_1
and the mirrored decoder, weights from local files in the layout of naoto0804/pytorch-AdaIN
(``vgg_normalised.pth``: keys ``0.weight`` ... of the full VGG; ``decoder.pth``). Applied on the device
to [0, 1] batches: each image gets the statistics of a random style image from a style folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curation.errors import CurateError
from models.augment.base import Augmentation

# (in, out) per conv of the encoder up to relu4_1 after the first 1x1 conv; 'M' = max pool.
ENCODER_PLAN = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256),
                (256, 256), "M", (256, 512)]
DECODER_PLAN = [(512, 256), "U", (256, 256), (256, 256), (256, 256), (256, 128), "U", (128, 128), (128, 64), "U",
                (64, 64), (64, 3)]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def build_encoder():
    """nn.Sequential whose indices match the first 31 modules of the AdaIN repo's ``vgg``."""
    from torch import nn

    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    for step in ENCODER_PLAN:
        if step == "M":
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(step[0], step[1], 3), nn.ReLU()]
    return nn.Sequential(*layers)


def build_decoder():
    """nn.Sequential with the AdaIN repo's ``decoder`` indices (no ReLU after the last conv)."""
    from torch import nn

    layers: list[nn.Module] = []
    for step in DECODER_PLAN:
        if step == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(step[0], step[1], 3), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _load(module: Any, path: Path, what: str) -> None:
    import torch

    if not path.is_file():
        raise CurateError(f"style-transfer needs the AdaIN {what} weights at {path}, which is not on disk; "
                          "download vgg_normalised.pth and decoder.pth (pytorch-AdaIN) and pass "
                          "--aug-opt style-transfer.vgg=PATH --aug-opt style-transfer.decoder=PATH")
    state = torch.load(path, map_location="cpu", weights_only=True)
    wanted = module.state_dict().keys()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise CurateError(f"{path} is not an AdaIN {what} state dict (missing {missing[:3]})")
    module.load_state_dict({k: state[k] for k in wanted})


def calc_mean_std(feat: Any, eps: float = 1e-5):
    n, c = feat.shape[:2]
    var = feat.reshape(n, c, -1).var(dim=2) + eps
    return feat.reshape(n, c, -1).mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def adain(content: Any, style_mean: Any, style_std: Any):
    mean, std = calc_mean_std(content)
    return (content - mean) / std * style_std + style_mean


class StyleBank:
    """Encoder, decoder and the style statistics of every style image, moved to a device on first use."""

    def __init__(self, vgg: Path, decoder: Path, styles: Path, style_size: int = 256):
        import torch

        from models.data import load_rgb
        from models.transforms import EvalTransform

        self.encoder, self.decoder = build_encoder().eval(), build_decoder().eval()
        _load(self.encoder, Path(vgg), "VGG encoder")
        _load(self.decoder, Path(decoder), "decoder")
        files = sorted(p for p in Path(styles).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) \
            if Path(styles).is_dir() else []
        if not files:
            raise CurateError(f"style-transfer needs a folder of style images (paintings); {styles} has none. "
                              "Pass --aug-opt style-transfer.styles=DIR")
        shrink = EvalTransform(style_size, 0)
        means, stds = [], []
        with torch.inference_mode():
            for path in files:
                img = shrink(load_rgb(path))
                x = torch.from_numpy(__import__("numpy").asarray(img, dtype="float32") / 255).permute(2, 0, 1)
                mean, std = calc_mean_std(self.encoder(x[None]))
                means.append(mean[0])
                stds.append(std[0])
        self.means, self.stds = torch.stack(means), torch.stack(stds)
        self.device = torch.device("cpu")

    def to(self, device: Any) -> "StyleBank":
        if device != self.device:
            for name in ("encoder", "decoder", "means", "stds"):
                setattr(self, name, getattr(self, name).to(device))
            self.device = device
        return self

    def __call__(self, x: Any, generator: Any, alpha: float, p: float):
        import torch

        self.to(x.device)
        n = x.shape[0]
        pick = torch.rand(n, generator=generator, device=generator.device).to(x.device) < p
        which = torch.randint(len(self.means), (n,), generator=generator, device=generator.device).to(x.device)
        if not bool(pick.any()):
            return x
        with torch.no_grad():
            content = self.encoder(x[pick])
            feat = adain(content, self.means[which[pick]], self.stds[which[pick]])
            feat = alpha * feat + (1 - alpha) * content
            out = self.decoder(feat)[..., :x.shape[2], :x.shape[3]].clamp(0, 1)
        x = x.clone()
        x[pick] = out.to(x.dtype)
        return x


def style_transfer(vgg: str = "", decoder: str = "", styles: str = "", alpha: float = 1.0, p: float = 1.0,
                   style_size: int = 256) -> Augmentation:
    """AdaIN stylisation of each training image with probability ``p`` (Stylized-ImageNet uses 1.0)."""
    if not vgg or not decoder:
        raise CurateError("style-transfer needs local AdaIN weights: --aug-opt style-transfer.vgg=PATH "
                          "--aug-opt style-transfer.decoder=PATH (and style-transfer.styles=DIR of paintings)")
    bank = StyleBank(Path(vgg), Path(decoder), Path(styles), style_size)

    def batch_transform(x: Any, generator: Any):
        return bank(x, generator, alpha, p)

    return Augmentation("style-transfer", batch_transform=batch_transform,
                        options={"vgg": vgg, "decoder": decoder, "styles": styles, "alpha": alpha, "p": p})
