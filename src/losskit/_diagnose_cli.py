"""The ``losskit diagnose`` command (:mod:`losskit.diagnose` is the API; this module only parses
arguments, writes files and sets the exit status)."""

from __future__ import annotations

import argparse
import sys

from losskit._commands import command
from losskit.diagnose import diagnose_log, finding_kinds, plot_curves


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", metavar="LOG",
                        help="Keras CSVLogger CSV, Lightning metrics.csv, losskit history.csv, "
                             "any CSV (with --loss), or TensorBoard event files (file or "
                             "folder)")
    parser.add_argument("--loss", help="column or TensorBoard tag of the training loss")
    parser.add_argument("--val-loss", help="column or tag of the validation loss")
    parser.add_argument("--out", default="losskit-diagnose",
                        help="folder for diagnosis.json and curves.png")
    parser.add_argument("--fail-on",
                        help="exit with status 1 if one of these findings is present, e.g. "
                             "divergence,overfitting")
    parser.add_argument("--no-plot", action="store_true", help="write no curves.png")


@command("diagnose", "what any framework's learning curves say: converged, still improving, "
         "overfitting, diverged", _arguments)
def _diagnose(args: argparse.Namespace) -> int:
    from losskit._io import check_output_path, write_json

    fail_on = finding_kinds(args.fail_on or "", argument="--fail-on")
    out = check_output_path("diagnose", "--out", args.out, kind="folder")
    result = diagnose_log(args.log, loss=args.loss, val_loss=args.val_loss)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "diagnosis.json", result.to_dict(), where="diagnose", nonfinite="null")
    print(result)
    print(f"wrote {out / 'diagnosis.json'}")
    if not args.no_plot:
        try:
            print(f"wrote {plot_curves(result, out / 'curves.png')}")
        except ImportError:
            print("no plot: matplotlib is not installed (pip install 'losskit[plot]')")
    found = [kind for kind in fail_on if kind in result.kinds]
    if found:
        print(f"losskit diagnose: failing: {', '.join(found)} found (--fail-on)",
              file=sys.stderr)
        return 1
    return 0
