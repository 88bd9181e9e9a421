"""The files of a comparison: ``results.json``, a box plot and a self-contained HTML report."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from losskit._io import atomic_write_bytes
from losskit._validation import fail
from losskit.compare._core import _json_text

__all__ = ["PLOT_FILE", "REPORT_FILE", "RESULTS_FILE", "box_plot_png", "report_html",
           "write_report"]

RESULTS_FILE = "results.json"
PLOT_FILE = "scores.png"
REPORT_FILE = "report.html"


def box_plot_png(comparison: Any) -> bytes:
    """A box plot of each loss's fold scores (points on top), as PNG bytes (matplotlib Agg)."""
    # a bare Figure on the Agg canvas: no pyplot, no GUI, no change to the user's backend
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(comparison.losses)
    fig = Figure(figsize=(max(4.0, 1.3 * k + 2.0), 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.boxplot(list(comparison.scores), showmeans=True)
    ax.set_xticks(range(1, k + 1), comparison.losses, rotation=20 if k > 3 else 0,
                  ha="right" if k > 3 else "center")
    for i, row in enumerate(comparison.scores, start=1):
        jitter = (i + 0.08 * ((row.argsort().argsort() / max(len(row) - 1, 1)) - 0.5))
        ax.plot(jitter, row, "o", ms=3, alpha=0.5, color="black")
    better = "higher" if comparison.greater_is_better else "lower"
    ax.set_ylabel(f"{comparison.metric} ({better} is better)")
    ax.set_title(f"{comparison.n_splits}-fold CV x {comparison.n_repeats} repeats: "
                 "fold scores per loss")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _table(comparison: Any) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("loss", "mean", "std", "min", "max",
                                              "mean rank", "fit seconds"))
    rows = []
    for r in comparison.summary():
        best = ' class="best"' if r["loss"] == comparison.best else ""
        rows.append(f"<tr{best}><td>{html.escape(r['loss'])}</td><td>{r['mean']:.4g}</td>"
                    f"<td>{r['std']:.3g}</td><td>{r['min']:.4g}</td><td>{r['max']:.4g}</td>"
                    f"<td>{r['mean_rank']:.2f}</td><td>{r['mean_fit_seconds']:.2f}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _tests_table(tests: dict[str, Any]) -> str:
    rows = []
    if "pairwise" in tests:
        f = tests["friedman"]
        rows.append(("Friedman (all losses)", f"χ² = {f['statistic']:.3g}", f["p_value"], ""))
        for pair in tests["pairwise"]:
            t, w = pair["corrected_ttest"], pair["wilcoxon"]
            name = f"{html.escape(pair['a'])} − {html.escape(pair['b'])}"
            rows.append((f"{name}: corrected t-test", f"t = {_num(t['statistic'])}",
                         t["p_value"], f"Holm {t['p_value_holm']:.3g}; difference "
                         f"{t['mean_difference']:.4g} [{t['ci_low']:.4g}, {t['ci_high']:.4g}]"))
            rows.append((f"{name}: Wilcoxon", f"T = {w['statistic']:.3g}", w["p_value"],
                         f"Holm {w['p_value_holm']:.3g}; rank-biserial "
                         f"{w['rank_biserial']:.2f}"))
    else:
        t, w = tests["corrected_ttest"], tests["wilcoxon"]
        rows.append(("corrected resampled t-test", f"t = {_num(t['statistic'])}", t["p_value"],
                     f"difference {t['mean_difference']:.4g}, {t['confidence']:.0%} CI "
                     f"[{t['ci_low']:.4g}, {t['ci_high']:.4g}]; Cohen's d "
                     f"{_num(t['cohens_d'])}"))
        rows.append(("Wilcoxon signed-rank", f"T = {w['statistic']:.3g}", w["p_value"],
                     f"rank-biserial {w['rank_biserial']:.2f}"))
    body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{p:.3g}</td><td>{c}</td></tr>"
                   for a, b, p, c in rows)
    return ("<table><thead><tr><th>test</th><th>statistic</th><th>p-value</th>"
            f"<th>effect size</th></tr></thead><tbody>{body}</tbody></table>")


def _num(x: float | None) -> str:
    return "∞" if x is None or abs(x) == float("inf") else f"{x:.3g}"


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
          "padding:.3em .6em;text-align:left}tr.best{background:#eef7ee}"
          ".conclusion{font-size:1.1em;background:#f6f6f6;padding:1em;border-left:4px solid "
          "#4a4}img{max-width:100%}")


def report_html(comparison: Any, png: bytes) -> str:
    """The report page: conclusion, summary table, tests and the plot embedded as base64."""
    image = base64.b64encode(png).decode("ascii")
    better = "higher" if comparison.greater_is_better else "lower"
    tests = comparison.to_dict()["tests"]
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>losskit compare</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Which loss is better? {html.escape(comparison.metric)}</h1>"
        f"<p>{comparison.n_splits}-fold cross-validation repeated {comparison.n_repeats} times "
        f"({comparison.scores.shape[1]} folds, the same folds and seeds for every loss); "
        f"{better} {html.escape(comparison.metric)} is better; task: {comparison.task}.</p>"
        f"<p class=\"conclusion\">{html.escape(comparison.conclusion)}</p>"
        f"<h2>Fold scores</h2>{_table(comparison)}"
        f"<img alt=\"box plot of the fold scores\" src=\"data:image/png;base64,{image}\">"
        f"<h2>Tests</h2>{_tests_table(tests)}"
        "<p>The corrected resampled t-test (Nadeau &amp; Bengio 2003) accounts for the "
        "training data the folds share; the Wilcoxon and Friedman tests treat folds as "
        "independent, so their p-values are optimistic.</p></body></html>\n")


def check_out_dir(out: Path) -> None:
    """Fail early (before any training) when ``out`` cannot be the output folder."""
    if out.exists() and not out.is_dir():
        fail("compare", "out", f"{str(out)!r} is a file", "Pass a folder (new or existing)")


def write_report(comparison: Any, out: Path) -> dict[str, Path]:
    """Write the three files into ``out`` (each atomically); return their paths."""
    check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / RESULTS_FILE, "plot": out / PLOT_FILE,
             "report": out / REPORT_FILE}
    atomic_write_bytes(paths["results"], _json_text(comparison.to_dict()))
    png = box_plot_png(comparison)
    atomic_write_bytes(paths["plot"], png)
    atomic_write_bytes(paths["report"], report_html(comparison, png))
    return paths
