"""A one-minute CPU demonstration: a small ResNet trained with Noise2Net on half of every batch.

``noise2net_demo(export)`` is called from Python, not by ``curate demo`` (whose training stage trains
Noise2Net through the recipe system, :mod:`curate_demo.training`). It reads the export's train
subset (labels by ``classes.csv`` key), trains a ResNet-18 at 32 px for about ``seconds`` with
Noise2Net (a new architecture every epoch, new per-image weights every batch) and returns figures
for a one-line summary: steps, epochs, images/s, first and last loss, train accuracy on clean images.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _load(export_root: Path, size: int, subset: str) -> tuple[Any, Any, int]:
    import numpy as np
    import torch
    from PIL import Image

    from curation.images import probe
    from splits.frozen import read_export

    export = read_export(export_root)
    index = export.class_index()
    xs, ys = [], []
    for row in export.subset(subset):
        path = export.image_path(row)
        if not row.label or row.label not in index or not probe(path.read_bytes()).ok:
            continue
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32) / 255
        xs.append(torch.from_numpy(arr).permute(2, 0, 1))
        ys.append(index[row.label])
    if not xs:
        from curation.errors import CurateError

        raise CurateError(f"no single-label images in subset {subset!r} of {export_root}")
    return torch.stack(xs), torch.tensor(ys), len(export.classes)


def noise2net_demo(export_root: Path, seconds: float = 60.0, seed: int = 0, batch: int = 32, size: int = 32,
                   subset: str = "train") -> dict[str, Any]:
    """Train a ResNet-18 with Noise2Net for about ``seconds`` on CPU; returns summary figures."""
    import torch
    import torch.nn.functional as F
    import torchvision

    from models.deepaugment.augment import noise2net
    from models.deepaugment.noise2net import IMAGENET_MEAN, IMAGENET_STD

    x_all, y_all, n_classes = _load(Path(export_root), size, subset)
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torchvision.models.resnet18(num_classes=n_classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    aug = noise2net(fraction=0.5).batch_transform
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    losses, correct, seen, steps, epoch, start = [], 0, 0, 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        aug.set_epoch(epoch)
        order = torch.randperm(len(x_all), generator=g)
        for i in range(0, len(order) - batch + 1 if len(order) >= batch else 1, batch):
            idx = order[i:i + batch]
            x = aug(x_all[idx], g)
            flip = torch.rand(len(idx), generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            logits = model((x - mean) / std)
            loss = F.cross_entropy(logits, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            clean = slice(len(idx) // 2, None)
            correct += int((logits[clean].argmax(1) == y_all[idx][clean]).sum())
            seen += len(idx) - len(idx) // 2
            losses.append(float(loss.detach()))
            steps += 1
            if time.perf_counter() - start >= seconds:
                break
        epoch += 1
    elapsed = time.perf_counter() - start
    result = {"steps": steps, "epochs": epoch, "images": len(x_all), "images_per_s": steps * batch / elapsed,
              "first_loss": losses[0], "last_loss": sum(losses[-5:]) / len(losses[-5:]),
              "clean_train_accuracy": correct / max(1, seen), "seconds": elapsed}
    log.info("noise2net demo: %s", result)
    return result
