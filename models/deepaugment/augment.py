"""The training-time methods: ``noise2net`` and ``deepaugment-online`` as ``Augmentation`` objects.

Both act in ``batch_transform(x, generator)`` on a float batch in [0, 1] of shape (N, 3, H, W) on the
batch's device, on the first ``fraction`` of the (shuffled) batch, deterministically for a given
``torch.Generator``. The training loop may call ``batch_transform.set_epoch(epoch)`` (Noise2Net
re-draws its architecture per epoch there, as released).

``deepaugment-online`` is EDSR/CAE DeepAugment inside training, which the paper could not do: every
augmented image goes through its own perturbed network in one batched pass (``batched``). EDSR maps a
1/4-size (bicubic, antialiased) copy back to full size (as released, 128 px in, x4 out); the CAE
reconstructs at full size. Clean weights are required: the published files or ``curate deepaugment
fit`` output.
"""

from __future__ import annotations

from typing import Any

from curation.errors import CurateError
from models.augment.base import Augmentation

METHODS = ("edsr", "cae")


def noise2net(fraction: float = 0.5, max_eps: float = 0.75, clamp: bool = False,
              batches_per_epoch: int | None = None, **unknown: Any) -> Augmentation:
    """Noise2Net on ``fraction`` of each batch, eps ~ U(max_eps/2, max_eps)."""
    _no_unknown("noise2net", unknown)
    from models.deepaugment.noise2net import Noise2Net

    transform = Noise2Net(fraction=float(fraction), max_eps=float(max_eps), clamp=_flag(clamp),
                          batches_per_epoch=int(batches_per_epoch) if batches_per_epoch else None)
    return Augmentation("noise2net", batch_transform=transform,
                        options={"fraction": fraction, "max_eps": max_eps, "clamp": clamp})


def deepaugment_online(edsr_weights: str | None = None, cae_weights: str | None = None, fraction: float = 0.5,
                       faithful: bool = True, resample: float = 1.0, precision: str = "fp32",
                       **unknown: Any) -> Augmentation:
    """EDSR and/or CAE DeepAugment on ``fraction`` of each batch, one perturbed network per image.

    ``resample`` is the probability that an image gets a fresh network (1.0: every image; 0.05: the
    released static schedule, the chain carrying over between batches). ``precision`` is what the
    networks compute in (``fp32``, the released arithmetic; ``bf16``; ``auto``: bf16 on a GPU, fp32 on a CPU).
    """
    _no_unknown("deepaugment-online", unknown)
    weights = {m: w for m, w in (("edsr", edsr_weights), ("cae", cae_weights)) if w}
    if not weights:
        raise CurateError("deepaugment-online needs clean network weights: pass edsr_weights=PATH and/or "
                          "cae_weights=PATH (published files, or train them with `curate deepaugment fit edsr "
                          "--train EXPORT`)")
    from models.deepaugment.batched import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"deepaugment-online: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    transform = OnlineDeepAugment(weights, float(fraction), _flag(faithful), float(resample), precision)
    return Augmentation("deepaugment-online", batch_transform=transform,
                        options={"weights": weights, "fraction": fraction, "faithful": faithful,
                                 "resample": resample, "precision": precision})


def _flag(value: Any) -> bool:
    """A boolean option that may arrive as text from the command line."""
    if isinstance(value, str):
        if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"expected true or false, got {value!r}")
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


def _no_unknown(name: str, unknown: dict[str, Any]) -> None:
    if unknown:
        raise ValueError(f"{name}: unknown options {sorted(unknown)}")


class OnlineDeepAugment:
    """Batch transform: augmented image j uses method ``methods[j % len(methods)]``."""

    def __init__(self, weights: dict[str, str], fraction: float, faithful: bool, resample: float,
                 precision: str = "fp32"):
        from models.deepaugment.weights import read_state_dict

        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        for method in weights:
            if method not in METHODS:
                raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
        self.methods = tuple(m for m in METHODS if m in weights)
        self.clean = {m: _checked(m, read_state_dict(weights[m])) for m in self.methods}
        self.fraction, self.faithful, self.resample, self.precision = fraction, faithful, resample, precision
        self._chains: dict[tuple[str, str], Any] = {}

    def set_epoch(self, epoch: int) -> None:
        """Nothing is drawn per epoch."""

    def _states(self, method: str, g: Any, n: int, device: Any) -> list[Any]:
        from models.deepaugment.distortions import ResamplingChain

        key = (method, str(device))
        if key not in self._chains:
            clean = {k: v.to(device) for k, v in self.clean[method].items()}
            self._chains[key] = ResamplingChain(method, clean, g, self.faithful, self.resample)
        chain = self._chains[key]
        chain.g = g
        return [chain.next() for _ in range(n)]

    def __call__(self, x: Any, g: Any) -> Any:
        import torch

        k = int(x.shape[0] * self.fraction)
        if k == 0:
            return x
        out = x.clone()
        with torch.no_grad():
            for offset, method in enumerate(self.methods):
                idx = list(range(offset, k, len(self.methods)))
                if idx:
                    states = self._states(method, g, len(idx), x.device)
                    out[idx] = distort_same_size(method, states, x[idx], g, self.faithful, self.precision)
        return out


def _checked(method: str, state: dict[str, Any]) -> dict[str, Any]:
    from models.deepaugment.cae import CAE
    from models.deepaugment.edsr import EDSR
    from models.deepaugment.weights import load_into

    import torch

    with torch.random.fork_rng(devices=[]):  # module init draws from the global RNG; keep the caller's intact
        if method == "edsr":
            model = EDSR(n_feats=int(state["head.0.weight"].shape[0]) if "head.0.weight" in state else 64)
        else:
            model = CAE()
    load_into(model, state, optional=("sub_mean", "add_mean") if method == "edsr" else ())
    return {k: v.detach().float() for k, v in model.state_dict().items()}


def distort_same_size(method: str, states: list[Any], x: Any, g: Any, faithful: bool = True,
                      precision: str = "fp32") -> Any:
    """DeepAugment a batch in [0, 1] keeping its size (EDSR from a 1/4 copy; CAE with reflect padding)."""
    import torch.nn.functional as F

    from models.deepaugment.batched import run_batched

    h, w = x.shape[-2:]
    if method == "edsr":
        small = F.interpolate(x, size=(max(1, h // 4), max(1, w // 4)), mode="bicubic", antialias=True,
                              align_corners=False).clamp(0, 1)
        y = run_batched("edsr", states, small, g, faithful, precision=precision)
        return y if y.shape[-2:] == (h, w) else F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
    ph, pw = (-h) % 4, (-w) % 4
    padded = F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
    return run_batched("cae", states, padded, g, faithful, precision=precision)[..., :h, :w]
