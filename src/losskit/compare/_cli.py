"""``losskit compare DATA --target COL --losses a,b,c ... --out DIR`` and
``losskit compare --scores runs.csv --out DIR``."""

from __future__ import annotations

import argparse

from losskit._commands import command


def _defaults() -> dict:
    from losskit.nn.cli import FIT_DEFAULTS

    return FIT_DEFAULTS


def _arguments(parser: argparse.ArgumentParser) -> None:
    d = _defaults()
    parser.add_argument("data", nargs="?", help="CSV or Parquet file (not with --scores)")
    parser.add_argument("--target", help="the column to predict")
    parser.add_argument(
        "--losses",
        help="comma-separated losses: names (e.g. mse,huber_loss) or custom losses as "
             "path/to/file.py:function — this RUNS the code in that file")
    parser.add_argument("--scores", metavar="CSV",
                        help="test scores of runs made elsewhere instead of training: a long "
                             "table with columns loss, score and fold and/or repeat or seed "
                             "(optionally n_train, n_test, metric)")
    parser.add_argument("--design", choices=("auto", "cv", "paired", "unpaired"),
                        default="auto", help="with --scores: the experiment's design "
                        "(default: auto, from the columns)")
    parser.add_argument("--greater-is-better", action=argparse.BooleanOptionalAction,
                        help="with --scores: the direction of the score (default: from the "
                             "metric's name)")
    parser.add_argument("--metric", default=None,
                        help="losskit metric, e.g. log_loss, auc, f1, mean_poisson_deviance "
                             "(default: the first one `losskit advise` suggests)")
    parser.add_argument("--folds", type=int, default=5, help="K of K-fold (default: 5)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="times the K-fold split is repeated (default: 5)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="parallel workers (-1: all cores; default: 1)")
    parser.add_argument("--no-batch", dest="batched", action="store_false",
                        help="train the networks one at a time instead of in batches with "
                             "stacked weights (the same fold scores to float32 rounding, "
                             "several times slower)")
    parser.add_argument("--epochs", type=int, default=d["epochs"],
                        help=f"most training epochs per fit (default: {d['epochs']})")
    parser.add_argument("--hidden", default=",".join(map(str, d["hidden"])),
                        help="hidden layer sizes, comma-separated (default: "
                             f"{','.join(map(str, d['hidden']))})")
    parser.add_argument("--optimizer", choices=("sgd", "adam", "adamw"),
                        default=d["optimizer"], help=f"optimiser (default: {d['optimizer']})")
    parser.add_argument("--learning-rate", type=float, default=d["learning_rate"],
                        metavar="LR", help=f"step size (default: {d['learning_rate']})")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"], metavar="B",
                        help=f"rows per step (default: {d['batch_size']})")
    parser.add_argument("--early-stopping", action=argparse.BooleanOptionalAction,
                        default=d["early_stopping"],
                        help="stop when the validation loss stops improving (default: "
                             f"{'on' if d['early_stopping'] else 'off'})")
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="L2 weight decay (default: 0)")
    parser.add_argument("--clip-grad-norm", type=float, default=None,
                        help="clip the gradient norm to this (default: no clipping)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted comparison in --out (its fits.json): "
                             "only the missing fits run")
    parser.add_argument("--out", required=True,
                        help="folder for fits.json (written as fits finish), results.json, "
                             "scores.csv, scores.png and report.html")


def _parse_losses(text: str) -> list:
    from losskit.compare._core import load_callable

    items = [item.strip() for item in text.split(",") if item.strip()]
    return [load_callable(item) if ":" in item else item for item in items]


def _in_flags(text: str, target: str) -> str:
    """An API message about ``y``, ``X``, ``out`` and ``losses`` in the command's words: the
    ``--target`` column, ``DATA``, ``--out`` and ``--losses``.

    >>> _in_flags("compare: y is constant. Drop a from the losses", "price")
    "compare: --target 'price' is constant. Drop a from --losses"
    """
    for api in ("compare: y ", "advise: y "):
        if text.startswith(api):
            text = f"compare: --target {target!r} " + text[len(api):]
            return text.replace(" from the losses", " from --losses")
    if text.startswith("compare: loss is "):
        text = "compare: --losses has " + text[len("compare: loss is "):]
        return text.replace("reads y as", f"reads --target {target!r} as")
    if text.startswith("compare: X "):
        return "compare: DATA " + text[len("compare: X "):]
    if text.startswith("compare: out "):
        text = "compare: --out " + text[len("compare: out "):]
        return text.replace("resume=True (--resume)", "--resume").replace(
            "another out folder (--out)", "another --out folder")
    return text


def _estimator_params(args: argparse.Namespace) -> dict:
    from losskit._validation import fail

    try:
        hidden = tuple(int(h) for h in args.hidden.split(","))
    except ValueError:
        hidden = ()
    if not hidden or any(h < 1 for h in hidden):
        fail("compare", "--hidden", f"is {args.hidden!r}", "Pass comma-separated positive "
             "integers, e.g. 64,32")
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value < 1:
            fail("compare", flag, f"is {value}", "Pass at least 1")
    if not args.learning_rate > 0:
        fail("compare", "--learning-rate", f"is {args.learning_rate}", "Pass a positive "
             "number, e.g. 0.001")
    params = {"epochs": args.epochs, "hidden_layer_sizes": hidden,
              "optimizer": args.optimizer, "learning_rate": args.learning_rate,
              "batch_size": args.batch_size, "early_stopping": args.early_stopping,
              "weight_decay": args.weight_decay}
    if args.clip_grad_norm is not None:
        params["clip_grad_norm"] = args.clip_grad_norm
    return params


@command("compare", "is one loss really better than another on this data? repeated "
         "cross-validation with statistical tests", _arguments)
def _compare(args: argparse.Namespace) -> int:
    from losskit._io import check_output_path
    from losskit._validation import fail

    check_output_path("compare", "--out", args.out, kind="folder")
    if args.scores is not None:
        from losskit.compare.scores import compare_scores, read_scores

        if args.data is not None or args.losses is not None:
            fail("compare", "--scores", "is given with DATA or --losses", "Pass either a "
                 "table of scores (--scores) or data to train on (DATA --target --losses)")
        result = compare_scores(read_scores(args.scores), metric=args.metric,
                                greater_is_better=args.greater_is_better,
                                design=args.design)
    else:
        from losskit.compare._core import compare
        from losskit.datasets import read_table, split_target

        for flag, value in (("DATA", args.data), ("--target", args.target),
                            ("--losses", args.losses)):
            if value is None:
                fail("compare", flag, "is missing", "Pass DATA --target COL --losses a,b "
                     "(or --scores runs.csv)")
        if args.jobs == 0:
            fail("compare", "--jobs", "is 0", "Pass a number of parallel fits (1 or more; "
                 "-1 for all cores)")
        params = _estimator_params(args)
        X, y = split_target(read_table(args.data, command="compare"), args.target,
                            command="compare")
        from concurrent.futures import BrokenExecutor

        try:
            result = compare(X, y, _parse_losses(args.losses), metric=args.metric,
                             n_splits=args.folds, n_repeats=args.repeats,
                             estimator_params=params, n_jobs=args.jobs, random_state=args.seed,
                             out=args.out, resume=args.resume, progress="auto",
                             batched=args.batched)
        except (ValueError, TypeError) as error:  # the column and flags in the user's words
            raise type(error)(_in_flags(str(error), args.target)) from None
        except BrokenExecutor as error:  # joblib's TerminatedWorkerError: not a traceback
            codes = [line for line in str(error).splitlines() if "exit code" in line]
            fail("compare", "--jobs", f"{args.jobs} lost a worker process, killed while "
                 "training (out of memory, or a signal" + (f"; {codes[0][:200]}" if codes
                                                            else "") + ")",
                 f"The fits done so far are in {args.out}/fits.json: run the same command "
                 "with --resume to train only the missing ones, with fewer --jobs if memory "
                 "ran out")
    paths = result.save(args.out)
    print(result)
    print()
    for path in paths.values():
        print(f"wrote {path}")
    return 0
