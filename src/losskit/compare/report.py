"""The files of a comparison: ``results.json``, a box plot and a self-contained HTML report."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from losskit._io import atomic_write_bytes
from losskit._validation import fail
from losskit.compare._format import json_text, mean_spread, significant

__all__ = ["PLOT_FILE", "REPORT_FILE", "RESULTS_FILE", "box_plot_png", "report_html",
           "write_report"]

RESULTS_FILE = "results.json"
PLOT_FILE = "scores.png"
REPORT_FILE = "report.html"
SCORES_FILE = "scores.csv"


def box_plot_png(comparison: Any) -> bytes:
    """A box plot of each loss's fold scores (points on top), as PNG bytes (matplotlib Agg)."""
    # a bare Figure on the Agg canvas: no pyplot, no GUI, no change to the user's backend
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(comparison.losses)
    fig = Figure(figsize=(max(4.0, 1.3 * k + 2.0), 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = [row[np.isfinite(row)] for row in comparison.scores]
    ax.boxplot(rows, showmeans=True)
    ax.set_xticks(range(1, k + 1), comparison.losses, rotation=20 if k > 3 else 0,
                  ha="right" if k > 3 else "center")
    for i, row in enumerate(rows, start=1):
        jitter = (i + 0.08 * ((row.argsort().argsort() / max(len(row) - 1, 1)) - 0.5))
        ax.plot(jitter, row, "o", ms=3, alpha=0.5, color="black")
    better = "higher" if comparison.greater_is_better else "lower"
    ax.set_ylabel(f"{comparison.metric} ({better} is better)")
    ax.set_title(_design_text(comparison) if comparison.design != "cv" else
                 f"{comparison.n_splits}-fold CV x {comparison.n_repeats} repeats: "
                 "fold scores per loss")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _table(comparison: Any) -> str:

    head = "".join(f"<th>{h}</th>" for h in ("loss", "mean", "std", "min", "max",
                                              "mean rank", "fit seconds", "failed fits"))
    rows = []
    for r in comparison.summary():
        best = ' class="best"' if r["loss"] == comparison.best else ""
        mean, std = mean_spread(r["mean"], r["std"])
        lo, hi = mean_spread(r["min"], r["std"])[0], mean_spread(r["max"], r["std"])[0]
        rows.append(f"<tr{best}><td>{html.escape(r['loss'])}</td><td>{mean}</td>"
                    f"<td>{std}</td><td>{lo}</td><td>{hi}</td>"
                    f"<td>{significant(r['mean_rank'])}</td><td>{significant(r['mean_fit_seconds'])}</td>"
                    f"<td>{r['n_failed']} of {r['n_failed'] + r['n_succeeded']}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _difference(t: dict[str, Any]) -> str:

    half = (t["ci_high"] - t["ci_low"]) / 2.0
    mean, _ = mean_spread(t["mean_difference"], half)
    lo, _ = mean_spread(t["ci_low"], half)
    hi, _ = mean_spread(t["ci_high"], half)
    return (f"difference {mean}, {t['confidence']:.0%} CI [{lo}, {hi}]; Cohen's d "
            f"{_num(t['cohens_d'])}")


def _tests_table(tests: dict[str, Any], design: str = "cv") -> str:
    from losskit.compare.stats import DESIGNS

    (t_key, t_name), (r_key, r_name) = DESIGNS[design]
    rows = []

    def pair_rows(prefix: str, t: dict[str, Any], w: dict[str, Any], holm: bool) -> None:
        if "untestable" in t:
            rows.append((f"{prefix}{t_name}", "—", None, None, f"untestable: {t['untestable']}"))
            return
        rows.append((f"{prefix}{t_name}", f"t = {_num(t['statistic'])}", t["p_value"],
                     t.get("p_value_holm") if holm else None, _difference(t)))
        rows.append((f"{prefix}{r_name}", f"{_num(w['statistic'])}", w["p_value"],
                     w.get("p_value_holm") if holm else None,
                     f"rank-biserial {w['rank_biserial']:.2f}"))

    if "pairwise" in tests:
        omnibus = tests.get("friedman") or tests.get("kruskal_wallis")
        name = "Friedman" if "friedman" in tests else "Kruskal-Wallis"
        if omnibus.get("p_value") is None:
            rows.append((f"{name} (all losses)", "—", None, None,
                         f"not run: {omnibus.get('untestable', '')}"))
        else:
            rows.append((f"{name} (all losses)", f"χ² = {_num(omnibus['statistic'])}",
                         omnibus["p_value"], None, ""))
        for pair in tests["pairwise"]:
            prefix = f"{html.escape(pair['a'])} − {html.escape(pair['b'])}: "
            pair_rows(prefix, pair[t_key], pair[r_key], holm=True)
    elif t_key in tests:
        pair_rows("", tests[t_key], tests[r_key], holm=False)

    def p_cell(p: float | None) -> str:
        return "—" if p is None or p != p else f"{p:.2g}"

    body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{p_cell(p)}</td><td>{p_cell(h)}</td>"
                   f"<td>{c}</td></tr>" for a, b, p, h, c in rows)
    return ("<table><thead><tr><th>test</th><th>statistic</th><th>p-value</th>"
            "<th>Holm-adjusted p-value</th><th>effect size</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _num(x: float | None) -> str:
    if x is None or x != x:
        return "—"
    return ("∞" if x > 0 else "−∞") if abs(x) == float("inf") else f"{x:.3g}"


def _failures(comparison: Any) -> str:
    if not comparison.failures:
        return ""
    from losskit.compare.stats import MIN_COMMON_FOLDS

    rows = "".join(f"<tr><td>{html.escape(f['loss'])}</td><td>{f['fold']}</td>"
                   f"<td>{html.escape(f['error'])}</td></tr>" for f in comparison.failures)
    return (f"<h2>Failed fits ({len(comparison.failures)})</h2><p>A failed fit has no score. "
            "Each pair of losses is tested on the folds where both succeeded; with fewer than "
            f"{MIN_COMMON_FOLDS} such folds the pair is untestable, and a loss with fewer "
            "successful folds is left out of the tests.</p><table><thead><tr><th>loss</th>"
            f"<th>fold</th><th>error</th></tr></thead><tbody>{rows}</tbody></table>")


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
        f"<p>{html.escape(_design_text(comparison))}; "
        f"{better} {html.escape(comparison.metric)} is better; task: {comparison.task}.</p>"
        f"<p class=\"conclusion\">{html.escape(comparison.conclusion)}</p>"
        f"<h2>Fold scores</h2>{_table(comparison)}"
        f"<img alt=\"box plot of the fold scores\" src=\"data:image/png;base64,{image}\">"
        f"{_failures(comparison)}"
        f"<h2>Tests</h2>{_tests_table(tests, comparison.design)}"
        f"<p>{_TEST_NOTES[comparison.design]}</p>"
        f"<h2>Settings</h2><pre>{html.escape(_settings_text(comparison))}</pre>"
        "</body></html>\n")


_TEST_NOTES = {
    "cv": "The corrected resampled t-test (Nadeau &amp; Bengio 2003) accounts for the "
          "training data the folds share; the Wilcoxon and Friedman tests treat folds as "
          "independent, so their p-values are optimistic.",
    "paired": "The runs are paired by seed and do not share training data: the paired t-test "
              "and the Wilcoxon signed-rank test apply as they are.",
    "unpaired": "The runs are not paired: each loss's scores are compared as independent "
                "samples (Welch t-test, Mann-Whitney U, Kruskal-Wallis), which is less "
                "sensitive than a paired design.",
}


def _design_text(comparison: Any) -> str:
    j = comparison.scores.shape[1]
    if comparison.design == "cv":
        return (f"{comparison.n_splits}-fold cross-validation repeated {comparison.n_repeats} "
                f"times ({j} folds, the same folds and seeds for every loss)")
    if comparison.design == "paired":
        return f"{j} runs paired by seed"
    return f"up to {j} unpaired runs per loss"


def _settings_text(comparison: Any) -> str:
    import json

    settings = {k: v for k, v in comparison.settings.items() if k != "seeds"}
    return json.dumps(settings, indent=2, default=str)


def check_out_dir(out: Path) -> None:
    """Fail early (before any training) when ``out`` cannot be the output folder."""
    if out.exists() and not out.is_dir():
        fail("compare", "out", f"{str(out)!r} is a file", "Pass a folder (new or existing)")


def write_report(comparison: Any, out: Path) -> dict[str, Path]:
    """Write the three files into ``out`` (each atomically); return their paths."""
    check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / RESULTS_FILE, "scores": out / SCORES_FILE,
             "plot": out / PLOT_FILE, "report": out / REPORT_FILE}
    atomic_write_bytes(paths["results"], json_text(comparison.to_dict()))
    atomic_write_bytes(paths["scores"], comparison.to_frame().to_csv(index=False))
    png = box_plot_png(comparison)
    atomic_write_bytes(paths["plot"], png)
    atomic_write_bytes(paths["report"], report_html(comparison, png))
    return paths
