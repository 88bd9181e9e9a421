"""Learning-curve figures and a self-contained HTML report of a training run.

Everything shown is computed by the API (the history, :func:`losskit.nn.diagnose`, the
estimator's ``evaluate``); this module only draws and writes. Figures need matplotlib (extra
``plot``); the HTML embeds them as base64 PNG, so the single file opens anywhere.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from losskit._io import atomic_write
from losskit.nn.trainer import History

__all__ = ["curve_figures", "write_report"]


def _series(history: History, key: str) -> tuple[list[int], list[float]]:
    epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(history.rows)]
    values = [float(r.get(key, math.nan)) for r in history.rows]
    return epochs, values


def _metric_key(history: History) -> str | None:
    skip = ("loss", "val_loss", "lr", "time", "epoch")
    for key in history.keys():
        if key in skip or "/" in key or key.startswith("val_"):
            continue
        return key
    return None


def curve_figures(history: History, folder: str | Path) -> dict[str, Path]:
    """Write ``loss.png`` (training and validation loss, with the constant-model baseline)
    and ``metric.png`` (the first recorded metric) into ``folder``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    folder = Path(folder)
    out: dict[str, Path] = {}
    plots = [("loss", "loss", "loss (lower is better)")]
    metric = _metric_key(history)
    if metric is not None:
        plots.append(("metric", metric, metric.replace("_", " ")))
    for name, key, label in plots:
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        for prefix, style in (("", "-"), ("val_", "--")):
            epochs, values = _series(history, prefix + key)
            if any(math.isfinite(v) for v in values):
                ax.plot(epochs, values, style, marker="o", markersize=3,
                        label="validation" if prefix else "training")
        base = history.baseline.get("loss") if name == "loss" else None
        if base is not None and math.isfinite(base):
            ax.axhline(base, color="grey", linestyle=":", label="constant model (baseline)")
        if history.best_epoch:
            ax.axvline(history.best_epoch, color="green", alpha=0.3, label="best epoch")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = folder / f"{name}.png"
        atomic_write(path, lambda tmp, fig=fig: fig.savefig(tmp, format="png"))
        plt.close(fig)
        out[name] = path
    return out


def _cell(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "not finite"
    return f"{float(value):.6g}"


def write_report(path: str | Path, *, title: str, history: History,
                 figures: Mapping[str, Path], metrics: Mapping[str, Mapping[str, float]],
                 model_text: str, why: str, diagnosis: Any,
                 rows: Mapping[str, int] | None = None) -> None:
    """Write the self-contained HTML report (figures embedded as base64 PNG).

    ``rows``: the row count of each part (``train``, ``validation``, ``test``, ``total``).
    A metric that is not finite shows as "not finite" (never as a number)."""
    esc = html.escape
    counts = rows
    images = "\n".join(
        f'<figure><img alt="{esc(name)} curves" src="data:image/png;base64,'
        f'{base64.b64encode(Path(p).read_bytes()).decode("ascii")}">'
        f"<figcaption>{esc(name)}: training and validation per epoch</figcaption></figure>"
        for name, p in figures.items())
    findings = "\n".join(f"<li>{esc(f.message)}</li>" for f in diagnosis.findings)
    names = sorted({k for split in metrics.values() for k in split})
    head = "".join(f"<th>{esc(n)}</th>" for n in names)
    rows = "\n".join(
        f"<tr><th>{esc(split)}</th>" + "".join(
            f"<td>{_cell(values[n])}</td>" if n in values else "<td></td>" for n in names)
        + "</tr>" for split, values in metrics.items())
    row_text = ""
    if counts is not None:
        parts = [f"{int(counts.get(k, 0))} {label}" for k, label in (
            ("train", "for training"), ("validation", "for validation"),
            ("test", "held out for testing"))]
        total = counts.get("total")
        row_text = "<p>Rows: " + esc(", ".join(parts)) + (
            f" (of {int(total)})" if total is not None else "") + ".</p>"
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; }}
figure {{ display: inline-block; margin: 0 1rem 1rem 0; }} img {{ max-width: 100%; }}
</style></head>
<body>
<h1>{esc(title)}</h1>
<h2>Diagnosis</h2>
<ul>{findings}</ul>
<h2>Learning curves</h2>
{images}
<h2>Final loss and metrics</h2>
{row_text}
<table><tr><th></th>{head}</tr>
{rows}</table>
<h2>Model: output layer and loss</h2>
<p>{esc(model_text)}</p>
<p>{esc(why)}</p>
<p>Stopped: {esc(history.stopped or "unknown")} after {len(history)} epoch(s);
best epoch {history.best_epoch}.</p>
</body></html>
"""
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(doc, encoding="utf-8"))
