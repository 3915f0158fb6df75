"""The paper's tables from stored evaluation results (``RUN/results.json``): Markdown, CSV and LaTeX,
and a PNG of IID accuracy against OOD accuracy across runs with a fitted line (effective robustness)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from curation.errors import CurateError
from models.metrics import CORRUPTIONS
from models.runs import read_json

RESULTS = "results.json"
TABLES = ("imagenet-r", "svsf", "dfr", "imagenet-c")


def find_results(runs: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(results.json files, paths holding none) for run folders, results files, or folders of runs
    (``runs/``: every ``runs/*/results.json``), where ``curate evaluate`` writes them."""
    found, skipped = [], []
    for run in map(Path, runs):
        if run.is_file():
            (found if run.suffix == ".json" else skipped).append(run)
        elif (run / RESULTS).is_file():
            found.append(run / RESULTS)
        elif run.is_dir() and (inner := sorted(run.glob(f"*/{RESULTS}"))):
            found.extend(inner)
        else:
            skipped.append(run)
    return list(dict.fromkeys(found)), skipped


def load_results(runs: Sequence[Path]) -> list[dict]:
    """Every evaluation in ``runs`` (see ``find_results``); an error only when there is none at all."""
    found, skipped = find_results(runs)
    if not found:
        shown = ", ".join(str(r) for r in list(runs)[:3])
        raise CurateError(f"no {RESULTS} in {shown}: evaluate first (curate evaluate --checkpoint RUN --sets ..., "
                          "or --weights W --model M, which writes runs/eval-M-W/results.json)")
    out = []
    for path in found:
        data = read_json(path)
        data.setdefault("label", path.parent.name)
        data["results_path"] = str(path)
        out.append(data)
    labels = [r["label"] for r in out]
    for r in out:  # two evaluations with one label (runs/a/eval, runs/b/eval): name them by their folders
        if labels.count(r["label"]) > 1:
            r["label"] = f"{Path(r['results_path']).parent.parent.name}/{r['label']}"
    return out


def _pct(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}"


def _num(x: Any) -> str:
    return "" if x is None else f"{x:.1f}"


def _short(name: str, names: Sequence[str] = ()) -> str:
    """The subset part of EXPORT:SUBSET, unless two columns would then share one name."""
    short = name.split(":", 1)[1] if ":" in name else name
    clash = sum(1 for n in names if (n.split(":", 1)[1] if ":" in n else n) == short) > 1
    return name if clash else short


META = ["run", "model", "weights", "aug", "start", "precision"]


def _meta(r: dict) -> list[str]:
    """Run, model, the weights evaluated, augmentation, where training started (scratch, torchvision:...,
    a file) and the evaluation precision: what a reader needs to tell whether a row is the paper's."""
    return [r["label"], r.get("model", ""), str(r.get("weights", "") or "?"), r.get("aug", ""),
            str(r.get("start", "") or "?"), r.get("precision") or ("bf16" if r.get("amp") else "fp32")]


def tables_in(results: Sequence[dict]) -> list[str]:
    """The tables that ``results`` have rows for, in TABLES order (``curate report`` without --table)."""
    return [kind for kind in TABLES if build_table(kind, results)[1]]


def comparability(s: dict) -> str:
    """'yes' for ImageNet-C's own 1000-class 15 x 5 sets, else 'not comparable: WHY'."""
    if s.get("comparable"):
        return "yes"
    return "not comparable: " + (s.get("not_comparable_because") or "not evaluated on ImageNet-C itself")


def build_table(kind: str, results: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one of the paper's tables; numbers in percent."""
    if kind not in TABLES:
        raise ValueError(f"unknown table {kind!r}; valid names: {', '.join(TABLES)}")
    if kind == "imagenet-r":
        header = META + ["ImageNet-200 error", "ImageNet-R error", "gap", "ImageNet-R calib. RMS"]
        rows = []
        for r in results:
            s = r.get("summary", {}).get("imagenet-r")
            if not s:
                continue
            calib = [v["calibration_rms"] for v in r["sets"].values() if v["kind"] == "imagenet-r" and v["role"] == "ood"]
            rows.append(_meta(r) + [_pct(s.get("iid_error")),
                         _pct(s["ood_error"]), _pct(s.get("gap")), _pct(float(np.mean(calib)) if calib else None)])
        return header, rows
    if kind == "svsf":
        key = "svsf" if any("svsf" in r.get("summary", {}) for r in results) else "classification"
        sets = sorted({n for r in results for n in r.get("summary", {}).get(key, {}).get("per_set", {})})
        header = META + ["IID error"] + [_short(n, sets) for n in sets] + ["mean OOD error"]
        rows = [_meta(r) + [_pct(s.get("iid_error"))]
                + [_pct(s["per_set"].get(n)) for n in sets] + [_pct(s["ood_error"])]
                for r in results if (s := r.get("summary", {}).get(key))]
        return header, rows
    if kind == "dfr":
        # the released DFR metric: weighted PR-AUC (summary["dfr"]["metric"] == "dfr_weighted_pr_auc")
        sets = sorted({n for r in results for n in r.get("summary", {}).get("dfr", {}).get("per_set", {})})
        header = META + [_short(n, sets) for n in sets] + ["OOD average weighted PR-AUC"]
        rows = [_meta(r) + [_pct(s["per_set"].get(n)) for n in sets]
                + [_pct(s.get("ood_average"))] for r in results if (s := r.get("summary", {}).get("dfr", {})).get("per_set")]
        return header, rows
    header = META + ["clean error", "mCE", "paper-comparable mCE"] + list(CORRUPTIONS)
    rows = [_meta(r) + [_pct(s.get("clean_error")), _num(s["mCE"]), comparability(s)]
            + [_num(s["ce"].get(c)) for c in CORRUPTIONS] for r in results if (s := r.get("summary", {}).get("imagenet-c"))]
    return header, rows


def to_markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(text: str) -> str:
    return "".join(TEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(header: list[str], rows: list[list[str]], caption: str) -> str:
    lead = len(META) if header[:len(META)] == META else min(3, len(header))
    cols = "l" * lead + "r" * (len(header) - lead)
    body = [" & ".join(_tex(h) for h in header) + r" \\", r"\midrule"]
    body += [" & ".join(_tex(c) for c in r) + r" \\" for r in rows]
    return "\n".join([r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{cols}}}", r"\toprule", *body,
                      r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex(caption)}}}", r"\end{table}"]) + "\n"


def accuracy_points(kind: str, results: Sequence[dict]) -> list[tuple[str, float, float]]:
    """(label, IID accuracy, OOD accuracy) per run for the robustness plot."""
    points = []
    for r in results:
        s = r.get("summary", {}).get("imagenet-r" if kind == "imagenet-r" else
                                     "dfr" if kind == "dfr" else "imagenet-c" if kind == "imagenet-c" else
                                     "svsf" if "svsf" in r.get("summary", {}) else "classification")
        if not s:
            continue
        if kind == "dfr":
            iid, ood = s.get("iid"), s.get("ood_average")
        elif kind == "imagenet-c":
            iid, ood = (1 - s["clean_error"]) if s.get("clean_error") is not None else None, 1 - s["mean_error"]
        else:
            iid, ood = (1 - s["iid_error"]) if s.get("iid_error") is not None else None, 1 - s["ood_error"]
        if iid is not None and ood is not None:
            points.append((r["label"], float(iid), float(ood)))
    return points


def plot_note(kind: str, results: Sequence[dict], points: Sequence[tuple[str, float, float]]) -> str:
    """Why the IID-vs-OOD plot has no points or no fitted line ('' when it has both)."""
    if not points:
        iid_flag = "--iid IMAGENET-VAL (the clean set)" if kind == "imagenet-c" else "--iid EXPORT[:SUBSET]"
        return (f"no point to plot: no run has both an IID and an OOD {kind} result; evaluate each run on its IID "
                f"set in the same command ({iid_flag}, or a subset named val/iid_test)")
    notes = []
    missing = len(build_table(kind, results)[1]) - len(points)
    if missing > 0:
        notes.append(f"{missing} run(s) not plotted: no IID result (evaluate with --iid EXPORT[:SUBSET])")
    if len(points) < 2 or np.ptp([p[1] for p in points]) == 0:
        notes.append("no fitted line: it needs at least two runs with different IID accuracy")
    return "; ".join(notes)


def plot(points: Sequence[tuple[str, float, float]], path: Path, title: str, note: str = "") -> dict:
    """Scatter of IID vs OOD accuracy with a least-squares line; returns the fit and each run's
    effective robustness (OOD accuracy above the line). ``note`` is written on the figure (why it is empty)."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    xs, ys = np.array([p[1] for p in points]) * 100, np.array([p[2] for p in points]) * 100
    ax.scatter(xs, ys, zorder=3)
    for (label, _, _), x, y in zip(points, xs, ys):
        ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    fit: dict[str, Any] = {}
    if len(points) >= 2 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(xs.min(), xs.max(), 20)
        ax.plot(grid, slope * grid + intercept, "--", color="gray", label=f"fit: y={slope:.2f}x{intercept:+.1f}")
        ax.legend(fontsize=7)
        fit = {"slope": float(slope), "intercept": float(intercept),
               "effective_robustness": {p[0]: float(y - (slope * x + intercept)) for p, x, y in zip(points, xs, ys)}}
    lo = float(min(xs.min(), ys.min())) if len(points) else 0.0
    hi = float(max(xs.max(), ys.max())) if len(points) else 100.0
    ax.plot([lo, hi], [lo, hi], ":", color="lightgray", label="y = x")
    if note:
        ax.text(0.5, 0.5 if not points else 0.08, textwrap.fill(note, 48), transform=ax.transAxes, ha="center",
                va="center", fontsize=8, color="dimgray")
    ax.set_xlabel("IID accuracy (%)")
    ax.set_ylabel("OOD accuracy (%)")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return fit


def write_report(kind: str, runs: Sequence[Path], out: Path, results: Sequence[dict] | None = None) -> dict[str, Any]:
    """Write report-<kind>.{md,csv,tex,png} into ``out``; returns the paths, the Markdown, the fit and a note
    saying why the plot is empty or has no line."""
    results = load_results(runs) if results is None else results
    header, rows = build_table(kind, results)
    if not rows:
        raise CurateError(f"none of the runs has {kind} results; evaluate them on {kind} exports first")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(header, rows)
    paths = {"md": out / f"report-{kind}.md", "csv": out / f"report-{kind}.csv", "tex": out / f"report-{kind}.tex",
             "png": out / f"report-{kind}.png"}
    paths["md"].write_text(md, encoding="utf-8")
    paths["csv"].write_text(to_csv(header, rows), encoding="utf-8")
    paths["tex"].write_text(to_latex(header, rows, f"{kind} results (percent)"), encoding="utf-8")
    points = accuracy_points(kind, results)
    note = plot_note(kind, results, points)
    fit = plot(points, paths["png"], f"{kind}: IID vs OOD accuracy", note)
    return {"kind": kind, "paths": paths, "markdown": md, "fit": fit, "plot_note": note}


def write_reports(kinds: Sequence[str] | None, runs: Sequence[Path], out: Path) -> tuple[list[dict], list[Path]]:
    """One report per table in ``kinds``, or per table the results have rows for when ``kinds`` is empty;
    also returns the paths that held no results.json."""
    results = load_results(runs)
    _, skipped = find_results(runs)
    kinds = list(kinds or tables_in(results))
    if not kinds:
        raise CurateError("the results hold no table's rows (imagenet-r, svsf, dfr, imagenet-c); evaluate on OOD "
                          "sets first")
    return [write_report(kind, runs, out, results) for kind in kinds], skipped
