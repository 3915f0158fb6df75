"""Clean EDSR / CAE weights trained on your own images, so DeepAugment works with no download.

EDSR learns x4 super-resolution (L1 on [0, 255], Adam 1e-4, as EDSR-PyTorch) from random HR crops
and their bicubic x1/4 copies; the CAE learns to reconstruct 128 px patches through its binary latent
(MSE, Adam), as alexandru-dinu/cae. Training is short by default and resumable: a checkpoint beside
the output (``<out>.ckpt``) holds model, optimiser, step and generator state, written every
``save_every`` steps; re-running the same command continues from it. The output file is a plain
state dict with the published parameter names (plus config and metrics), loadable with ``--weights``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from curation.errors import CurateError
from splits import frozen

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    method: str
    steps: int = 300
    batch: int = 8
    patch: int = 0          # HR crop (EDSR, default 96) or patch (CAE, default 128)
    lr: float = 0.0         # default: 1e-4 (EDSR), 1e-3 (CAE)
    n_feats: int = 64       # EDSR width (64 = the published baseline)
    max_images: int = 2000
    subset: str = "train"
    seed: int = 0
    save_every: int = 50
    device: str = "cpu"

    def resolved(self) -> "FitConfig":
        patch = self.patch or (96 if self.method == "edsr" else 128)
        lr = self.lr or (1e-4 if self.method == "edsr" else 1e-3)
        return FitConfig(**{**asdict(self), "patch": patch, "lr": lr})


def load_images(export_root: Path, cfg: FitConfig) -> list[Any]:
    """The subset's images as [0, 1] tensors, shorter side at least ``patch`` (capped at 2x patch)."""
    import numpy as np
    import torch
    from PIL import Image

    from curation.images import probe

    export = frozen.read_export(export_root)
    rows = sorted(export.subset(cfg.subset), key=lambda r: r.path)[: cfg.max_images]
    images = []
    for row in rows:
        data = export.image_path(row).read_bytes()
        if not probe(data).ok:
            log.warning("skipping unreadable image %s", row.path)
            continue
        with Image.open(export.image_path(row)) as img:
            img = img.convert("RGB")
            side = min(img.size)
            target = min(max(side, cfg.patch), 2 * cfg.patch)
            scale = target / side
            img = img.resize((max(cfg.patch, round(img.size[0] * scale)), max(cfg.patch, round(img.size[1] * scale))),
                             Image.BICUBIC)
            images.append(torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1).contiguous())
    if not images:
        raise CurateError(f"no readable images in subset {cfg.subset!r} of {export_root}")
    return images


def _crops(images: list[Any], cfg: FitConfig, g: Any) -> Any:
    import torch

    out = []
    for k in torch.randint(0, len(images), (cfg.batch,), generator=g).tolist():
        img = images[k]
        top = int(torch.randint(0, img.shape[1] - cfg.patch + 1, (1,), generator=g))
        left = int(torch.randint(0, img.shape[2] - cfg.patch + 1, (1,), generator=g))
        crop = img[:, top:top + cfg.patch, left:left + cfg.patch]
        out.append(crop.flip(2) if int(torch.randint(0, 2, (1,), generator=g)) else crop)
    return torch.stack(out)


def _loss(model: Any, hr: Any, cfg: FitConfig, g: Any) -> Any:
    import torch
    import torch.nn.functional as F

    if cfg.method == "edsr":
        lr_img = F.interpolate(hr, scale_factor=0.25, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        return F.l1_loss(model(lr_img * 255), hr * 255)
    z_shape = (hr.shape[0], 32, hr.shape[2] // 4, hr.shape[3] // 4)
    return F.mse_loss(model(hr, noise=torch.rand(z_shape, generator=g).to(hr.device)), hr)


def fit(cfg: FitConfig, export_root: Path, out: Path,
        on_step: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Train (or continue training) and write ``out``; returns the final config and metrics."""
    import torch

    from models.deepaugment.cae import CAE
    from models.deepaugment.edsr import EDSR

    if cfg.method not in ("edsr", "cae"):
        raise CurateError(f"unknown network {cfg.method!r}; use edsr or cae")
    cfg = cfg.resolved()
    images = load_images(export_root, cfg)
    device = torch.device(cfg.device)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's global RNG
        torch.manual_seed(cfg.seed)
        model = (EDSR(n_feats=cfg.n_feats) if cfg.method == "edsr" else CAE()).to(device).train()
    optim = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    ckpt, step, losses = Path(f"{out}.ckpt"), 0, []
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if _same_run(state["config"]) != _same_run(asdict(cfg)):
            raise CurateError(f"{ckpt} was written with other settings; delete it or pass the same options "
                              "(only --steps and --device may change)")
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        g.set_state(state["generator"])
        step, losses = state["step"], state["losses"]
        log.info("resuming %s from step %d", cfg.method, step)
    while step < cfg.steps:
        loss = _loss(model, _crops(images, cfg, g).to(device), cfg, g)
        optim.zero_grad()
        loss.backward()
        optim.step()
        step += 1
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
        if step % cfg.save_every == 0 or step == cfg.steps:
            _atomic_save({"model": model.state_dict(), "optim": optim.state_dict(), "generator": g.get_state(),
                          "step": step, "losses": losses, "config": asdict(cfg)}, ckpt)
    tail = losses[-max(1, min(20, len(losses))):]
    metrics = {"steps": step, "first_loss": losses[0] if losses else None,
               "final_loss": sum(tail) / len(tail) if tail else None, "images": len(images),
               "manifest_sha256": frozen.read_export(export_root).manifest_sha256()}
    _atomic_save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                  "config": asdict(cfg), "metrics": metrics}, Path(out))
    return {"config": asdict(cfg), "metrics": metrics}


def _same_run(config: dict[str, Any]) -> dict[str, Any]:
    """What must match to continue a run: everything but the step budget and the device."""
    return {k: v for k, v in config.items() if k not in ("steps", "save_every", "device")}


def _atomic_save(obj: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
