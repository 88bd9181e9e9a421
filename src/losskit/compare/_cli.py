"""``losskit compare DATA --target COL --losses a,b,c ... --out DIR``."""

from __future__ import annotations

import argparse

from losskit._commands import command


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="CSV or Parquet file")
    parser.add_argument("--target", required=True, help="the column to predict")
    parser.add_argument(
        "--losses", required=True,
        help="comma-separated losses: names (e.g. mse,huber_loss) or custom losses as "
             "path/to/file.py:function — this RUNS the code in that file")
    parser.add_argument("--metric", default=None,
                        help="losskit metric (default: the first one `losskit advise` suggests)")
    parser.add_argument("--folds", type=int, default=5, help="K of K-fold (default 5)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="times the K-fold split is repeated (default 5)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="parallel fits (-1: all cores; default 1)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs per fit")
    parser.add_argument("--hidden", default=None,
                        help="hidden layer sizes, comma-separated (e.g. 64,32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", required=True, help="folder for results.json, scores.png "
                        "and report.html")


def _parse_losses(text: str) -> list:
    from losskit.compare._core import load_callable

    items = [item.strip() for item in text.split(",") if item.strip()]
    return [load_callable(item) if ":" in item else item for item in items]


@command("compare", "is one loss really better than another on this data? repeated "
         "cross-validation with statistical tests", _arguments)
def _compare(args: argparse.Namespace) -> int:
    from losskit._io import check_output_path
    from losskit._validation import fail
    from losskit.compare._core import compare
    from losskit.datasets import read_table, split_target

    check_output_path("compare", "--out", args.out, kind="folder")
    if args.jobs == 0:
        fail("compare", "--jobs", "is 0", "Pass a number of parallel fits (1 or more; -1 for "
             "all cores)")
    X, y = split_target(read_table(args.data, command="compare"), args.target,
                        command="compare")
    params: dict = {}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    if args.hidden:
        try:
            params["hidden_layer_sizes"] = tuple(int(h) for h in args.hidden.split(","))
        except ValueError:
            raise ValueError(f"compare: --hidden is {args.hidden!r}. Pass comma-separated "
                             "integers, e.g. 64,32") from None
    result = compare(X, y, _parse_losses(args.losses), metric=args.metric,
                     n_splits=args.folds, n_repeats=args.repeats, estimator_params=params,
                     n_jobs=args.jobs, random_state=args.seed)
    paths = result.save(args.out)
    print(result)
    print()
    for path in paths.values():
        print(f"wrote {path}")
    return 0
