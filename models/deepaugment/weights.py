"""Reading weight files: the published EDSR ``.pt`` and CAE ``model_final.state`` or our own ``fit`` output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curation.errors import CurateError


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """A plain ``name -> tensor`` dict from a weight file (unwraps checkpoints and ``module.`` prefixes)."""
    import io

    import torch

    from curation.objstore import is_url, read_bytes

    if is_url(path):  # weights in an object store: what every node of a cluster can read
        try:
            source: Any = io.BytesIO(read_bytes(str(path)))
        except OSError as exc:
            raise CurateError(f"weight file {path} cannot be read ({exc}); upload it there or pass a local file") from exc
    else:
        source = path = Path(path)
        if not path.is_file():
            raise CurateError(f"weight file {path} not found; pass the published file or train one with "
                              "`curate deepaugment fit edsr|cae --train EXPORT`")
    try:
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise CurateError(f"cannot read weights from {path}: {exc}") from exc
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise CurateError(f"{path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in obj.items() if hasattr(v, "shape")}


def load_into(module: Any, state: dict[str, Any], optional: tuple[str, ...] = ()) -> None:
    """Load ``state`` into ``module`` by the published names; ``optional`` prefixes may be absent."""
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(optional)]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise CurateError(f"weights do not fit {type(module).__name__}: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}, wrong shape {wrong[:5]}; is this the right file "
                          "for the method (edsr_baseline_x4 for edsr, model_final.state for cae)?")
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
