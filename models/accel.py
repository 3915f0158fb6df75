"""Device paths: bf16 autocast, channels_last, optional torch.compile, and JPEG decoding on the GPU.

Everything here is guarded by the device type (on CPU: eager, PIL decoding; bf16 only where an evaluation
asks for it), so the same code runs on machines without a GPU.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from models.data import Item, sample_rng
from models.transforms import center_crop_box, random_resized_crop_box, resize_shorter


@dataclass(frozen=True)
class Accel:
    device: Any
    amp: bool = True
    channels_last: bool = True
    compile: bool = False

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def pick_device(name: str | None = None):
    """'auto' (or None): CUDA when present, else CPU."""
    import torch

    if not name or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(accel: Accel):
    """bf16 autocast when ``accel.amp`` asks for it, on CUDA or on a CPU (``curate evaluate --precision bf16``;
    training builds a CPU ``Accel`` without ``amp``: a recipe's bf16 applies on CUDA only); else nothing."""
    import torch

    if accel.amp:
        return torch.autocast("cuda" if accel.cuda else "cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model: Any, accel: Accel) -> Any:
    """Move to the device; channels_last where asked (it also speeds oneDNN convolutions on CPUs);
    torch.compile only on CUDA."""
    import torch

    model = model.to(accel.device)
    if accel.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if accel.cuda and accel.compile:
        model = torch.compile(model)
    return model


class JpegBytesDataset:
    """Items as raw file bytes (uint8 tensors) plus crop boxes, for decoding on the GPU.

    ``mode='eval'``: Resize(resize)+CenterCrop(crop) boxes; ``mode='train'``: RandomResizedCrop + flip
    drawn from the per-sample generator. Reading the header (size) is all the CPU does. ``targets``: an
    object with ``.target(i)`` (an ExportDataset over the same items), or None for evaluation."""

    def __init__(self, items: Sequence[Item], targets: Any | None, mode: str, size: int, resize: int = 0,
                 seed: int = 0, min_scale: float = 0.08):
        self.items, self.targets, self.mode, self.size, self.resize = list(items), targets, mode, size, resize
        self.seed, self.min_scale = seed, min_scale

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int):
        import torch
        from PIL import Image

        epoch, i = divmod(key, len(self.items))

        raw = self.items[i].read_bytes()
        data = np.frombuffer(raw, dtype=np.uint8).copy()
        with Image.open(io.BytesIO(raw)) as img:
            width, height = img.size
        if self.mode == "train":
            rng = sample_rng(self.seed, epoch, i)
            left, top, w, h = random_resized_crop_box(width, height, rng, (self.min_scale, 1.0))
            box = (left, top, w, h, int(rng.random() < 0.5), self.size, self.size)
        else:
            rw, rh = resize_shorter(width, height, self.resize) if self.resize else (width, height)
            crop = self.size or min(rw, rh)
            box = (0, 0, width, height, 0, rw, rh) + center_crop_box(rw, rh, crop)[:2] + (crop,)
        return torch.from_numpy(data), torch.tensor(box), self.targets.target(i) if self.targets else 0, i


def collate_bytes(batch: list):
    import torch

    targets = batch[0][2]
    targets = torch.stack([b[2] for b in batch]) if isinstance(targets, torch.Tensor) \
        else torch.tensor([b[2] for b in batch])
    return [b[0] for b in batch], torch.stack([b[1] for b in batch]), targets, torch.tensor([b[3] for b in batch])


def decode_on_device(datas: list, boxes: Any, device: Any):
    """Decode a batch of encoded images on ``device`` (JPEG on the GPU; others on the CPU), crop and
    resize each as its box says, and return a uint8 (N, 3, S, S) batch."""
    import torch
    import torch.nn.functional as F
    import torchvision
    from torchvision.io import ImageReadMode

    is_jpeg = [bool(d.numel() > 2 and d[0] == 0xFF and d[1] == 0xD8) for d in datas]
    jpegs = [d for d, j in zip(datas, is_jpeg) if j]
    with warnings.catch_warnings():  # torchvision >= 0.29 points to TorchCodec; the API still works
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded = iter(torchvision.io.decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=device) if jpegs else [])
        others = {i: torchvision.io.decode_image(d, mode=ImageReadMode.RGB).to(device)
                  for i, (d, j) in enumerate(zip(datas, is_jpeg)) if not j}
    out = []
    for i, (jpeg, box) in enumerate(zip(is_jpeg, boxes.tolist())):
        img = next(decoded) if jpeg else others[i]
        left, top, w, h, flip, out_w, out_h = box[:7]
        img = img[:, top:top + h, left:left + w].unsqueeze(0).float()
        img = F.interpolate(img, size=(out_h, out_w), mode="bilinear", antialias=True, align_corners=False)
        if len(box) > 7:
            cl, ct, crop = box[7:]
            img = img[:, :, ct:ct + crop, cl:cl + crop]
        if flip:
            img = img.flip(-1)
        out.append(img.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)
