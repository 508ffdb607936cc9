"""The ``sweeplab`` command: parses arguments and calls the library, nothing else."""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Sequence

from sweeplab import data as data_mod
from sweeplab import readout
from sweeplab import spec as S
from sweeplab import study as st
from sweeplab.errors import FieldError
from sweeplab.readout import DamagedRecord
from sweeplab.store import DEFAULT_PATH

SUBSET_HELP = ("train and test on a stratified sample of N images per split (the first images "
               "of each class in original order, class proportions kept; the test split is cut "
               "to at most N as well)")


class CliError(FieldError):
    """A user error: printed as one line, exit status 2."""


def _flag(field: str, spec: str) -> str:
    """An error's field (sweeplab.errors) as a flag: ``--data-dir DIR``; a switch bare."""
    flag = "--" + field.replace("_", "-")
    return flag if spec in ("", "True") else f"{flag} {spec}"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seeds_arg(text: str) -> int | list[int]:
    """``N`` (seeds 0..N-1) or a comma-separated list such as ``0,7,42``."""
    try:
        if "," in text:
            seeds = [int(x) for x in text.split(",") if x.strip()]
            if seeds and min(seeds) >= 0 and len(set(seeds)) == len(seeds):
                return seeds
        else:
            return _positive(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected a count N or a list of distinct seeds >= 0 like 0,7,42, got {text!r}")


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=DEFAULT_PATH, metavar="PATH",
                   help=f"the SQLite run store (default: ./{DEFAULT_PATH})")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    from sweeplab.engines import DEFAULT_ENGINE, ENGINES

    p.add_argument("--seeds", type=_seeds_arg, metavar="N|LIST",
                   help="run seeds 0..N-1 (or the listed seeds, e.g. 0,7,42) instead of the "
                   "study's own")
    p.add_argument("--epochs", type=_positive, metavar="E", help="train E epochs per run")
    p.add_argument("--subset", type=_positive, metavar="N", help=SUBSET_HELP)
    p.add_argument("--data-dir", metavar="DIR", help="the directory holding the datasets, the "
                   f"only place looked (default: ${data_mod.ENV_VAR}, then "
                   f"{data_mod.KERAS_CACHE}, then download)")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                   help=f"how runs are trained (default: {DEFAULT_ENGINE})")
    p.add_argument("--parallel", type=_positive, metavar="K",
                   help="seeds of one config trained at once by the engine (default: automatic)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--redefine", action="store_true", help="make this the study's definition "
                   "where the store (or a built-in study) defines its name otherwise; the "
                   "earlier definition's runs stay listed as NAME@N")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS", help="train each "
                   "group of runs as a Ray task: no ADDRESS starts a Ray cluster on this "
                   "machine, `auto` joins the one `ray start` started here, HOST:PORT joins "
                   "that cluster's head; this process still writes the store (needs "
                   "sweeplab[ray])")
    p.add_argument("--save-models", metavar="DIR", help="save every trained run's model as "
                   "DIR/<config hash>/seed<N>.keras, its path kept in the store, for `predict` "
                   "(off by default; 4 bytes per weight: about 0.1 MB a run for q1's MLP, "
                   "0.5 MB for cnn-base, 1.1 MB for the largest CNN)")
    p.add_argument("--mlflow", metavar="URI", help="log each epoch live to this MLflow "
                   "tracking URI (sqlite:///mlflow.db, http://host:5000), as `export mlflow`")
    p.add_argument("--tensorboard", metavar="DIR", help="write each epoch live as TensorBoard "
                   "event files under DIR, as `export tensorboard`")
    _add_store(p)


def _add_report_options(p: argparse.ArgumentParser, data_dir: bool = True) -> None:
    p.add_argument("--out", metavar="PATH", help="output file (html) or folder (md) "
                   "(default: report.html, or report/ with --format md)")
    p.add_argument("--format", choices=("html", "md"), default="html",
                   help="html: one self-contained file; md: Markdown plus PNG files")
    if data_dir:
        p.add_argument("--data-dir", metavar="DIR",
                       help="where to find the datasets for the sample-image plots")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sweeplab",
        description="Run repeated Keras experiments on image classifiers, crash-safe, and say "
                    "honestly what they show.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="train every run of a study that the store does not have")
    p.add_argument("study", help="a built-in study name (see `sweeplab studies`) or a .toml file")
    _add_run_options(p)
    p.add_argument("--until-ci", type=float, metavar="W",
                   help="keep adding seeds, in rounds, until every configuration's 95%% CI "
                   "half-width of final test accuracy is at most W accuracy points")
    p.add_argument("--until-detect", type=float, metavar="D",
                   help="keep adding seeds, in rounds, until every pair of neighbouring "
                   "configurations would detect a difference of D accuracy points in final test "
                   "accuracy with 80%% power (t-test at alpha 0.05)")
    p.add_argument("--max-seeds", type=_positive, default=20, metavar="M",
                   help="with --until-ci/--until-detect: stop at M seeds per configuration "
                   "(default 20)")
    p.add_argument("--seeds-per-round", type=_positive, default=2, metavar="N",
                   help="with --until-ci/--until-detect: seeds added per round (default 2)")
    p.add_argument("--min-seeds", type=_positive, default=3, metavar="N",
                   help="with --until-ci/--until-detect: never stop with fewer seeds than "
                   "this (default 3)")

    p = sub.add_parser("studies", help="list the built-in studies, or print one as TOML")
    p.add_argument("name", nargs="?", help="print this study as a TOML file `run` accepts")

    p = sub.add_parser("check", help="validate study files (or built-in names) without "
                       "training or touching a store; or, with --store, check a store: "
                       "its pages, every record's checksum, every record parsed (exit 1: "
                       "damage found)")
    p.add_argument("studies", nargs="*", metavar="STUDY", help="a .toml file or built-in name")
    p.add_argument("--store", metavar="PATH", help="check this store instead")
    p.add_argument("--repair", action="store_true", help="with --store: set damaged records "
                   "aside (kept, not deleted) and mark damaged runs not done, so the next "
                   "`sweeplab run` trains exactly those again; add checksums to an older "
                   "store's records")

    p = sub.add_parser("ls", help="studies and configs in a store, runs done/total")
    _add_store(p)

    p = sub.add_parser("show", help="one config: per-epoch mean +- std across seeds")
    p.add_argument("config", help="a config hash (or unique prefix), or STUDY to show all of "
                   "its configs, or STUDY:LABEL (e.g. q6:width=32)")
    _add_store(p)

    p = sub.add_parser("diagnose", help="per-run diagnostics (silent classes, dead units, "
                       "collapse, over-fitting) and why the runs of each config differ")
    p.add_argument("study", metavar="STUDY|CONFIG", help="a study (all its configs), "
                   "STUDY:LABEL, or a config hash prefix")
    p.add_argument("config", nargs="?", metavar="LABEL", help="only this config of STUDY")
    _add_store(p)

    p = sub.add_parser("compare", help="is config B really different from config A? "
                       "(paired over shared seeds)")
    p.add_argument("refs", nargs="+", metavar="[STORE] CONFIG",
                   help="optionally a store path, then two configs: hash prefixes or "
                   "STUDY:LABEL (e.g. q6:width=16 q6:width=32)")
    p.add_argument("--metric", default="test_acc", choices=("test_acc", "train_acc",
                   "test_loss", "train_loss", "val_acc", "val_loss"),
                   help="final-epoch metric (default test_acc; val_*: configs with a "
                   "validation split, as a search's)")
    _add_store(p)

    p = sub.add_parser("plan", help="seeds needed to detect a difference between neighbouring "
                       "configs, from the spread stored so far (80%% power, t-test at 0.05)")
    p.add_argument("study", help="a study in the store")
    p.add_argument("--detect", type=float, required=True, metavar="D",
                   help="the difference in final test accuracy to detect, in accuracy points")
    _add_store(p)

    p = sub.add_parser("report", help="write every plot and table of the studies in a store "
                       "into one self-contained HTML file (or Markdown + PNGs)")
    p.add_argument("studies", nargs="*", metavar="STUDY",
                   help="studies to report (default: all in the store, in assignment order)")
    _add_report_options(p)
    _add_store(p)

    p = sub.add_parser("assignment", help="run every built-in study (skipping what is done), "
                       "then write the report")
    _add_run_options(p)
    _add_report_options(p, data_dir=False)

    p = sub.add_parser("export", help="copy finished runs to TensorBoard, MLflow, CSV or "
                       "Parquet (idempotent: adds only what the target lacks)")
    p.add_argument("target", choices=("tensorboard", "mlflow", "csv", "parquet"))
    p.add_argument("dest", metavar="DIR|URI", help="log/output directory, or MLflow tracking URI")
    p.add_argument("studies", nargs="*", metavar="STUDY", help="studies (default: all)")
    _add_store(p)

    p = sub.add_parser("predict", help="classify images with a run's saved model "
                       "(run --save-models)")
    p.add_argument("config", help="a config hash (or unique prefix) or STUDY:LABEL")
    p.add_argument("images", nargs="+", metavar="IMAGES.npy", help="arrays of images, "
                   "(N, H, W[, C]), uint8 pixels or floats in [0, 1]")
    p.add_argument("--seed", type=int, required=True, metavar="N", help="the run's seed")
    _add_store(p)

    p = sub.add_parser("data", help="where each dataset is found, its shapes and class counts")
    p.add_argument("--data-dir", metavar="DIR", help="look here first")
    p.add_argument("name", nargs="*", help="datasets to describe (default: all)")

    # serve: the live dashboard; the code is sweeplab.serve.
    p = sub.add_parser("serve", help="a live, read-only dashboard of the store on a local "
                       "web page (needs sweeplab[serve])")
    p.add_argument("--port", type=_positive, default=8765, help="port (default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1: this machine only; another one prints a warning)")
    _add_store(p)
    for command in sub.choices.values():
        command.add_argument("--verbose", action="store_true", help="show TensorFlow's and "
                             "absl's start-up and C++ log lines (hidden by default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # asked for: wins over an inherited 3
    elif argv is None:  # this process is the `sweeplab` command (not a caller's main([...]))
        from sweeplab.backend import quiet_native_logs

        quiet_native_logs()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", DamagedRecord)  # each damaged record once
            for developers_only in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                warnings.simplefilter("ignore", developers_only)  # libraries' (SQLAlchemy's...)
            warnings.showwarning = _one_line(args.command)
            return COMMANDS[args.command](args)
    except (FieldError, ValueError) as err:
        words = err.worded(_flag) if isinstance(err, FieldError) else str(err)
        print(f"sweeplab {args.command}: error: {words}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sweeplab {args.command}: interrupted; finished runs are kept in the store.",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # `sweeplab show ... | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _one_line(command: str):  # noqa: ANN202 (warnings.showwarning's own signature)
    def show(message, category, *rest) -> None:  # noqa: ANN001
        print(f"sweeplab {command}: warning: {message}", file=sys.stderr)
    return show


# --- commands -----------------------------------------------------------------------------

def _run_options(args: argparse.Namespace) -> dict:
    """The ``run``/``assignment`` options as sweeplab.run keyword arguments."""
    return dict(store=args.store, seeds=args.seeds, epochs=args.epochs, subset=args.subset,
                engine=args.engine, parallel=args.parallel, data_dir=args.data_dir,
                progress=not args.quiet, save_models=args.save_models or False,
                mlflow=args.mlflow, tensorboard=args.tensorboard, ray=args.ray,
                redefine=args.redefine,
                log=lambda m: print(m, file=sys.stderr))


def cmd_run(args: argparse.Namespace) -> int:
    from sweeplab import api

    options = _run_options(args)
    if args.until_ci is not None or args.until_detect is not None:
        res = api.run(args.study, until_ci=args.until_ci, until_detect=args.until_detect,
                      max_seeds=args.max_seeds, seeds_per_round=args.seeds_per_round,
                      min_seeds=args.min_seeds, **options)
        adaptive = res.last
        trained = sum(r.trained for r in adaptive.rounds)
        print(f"{adaptive.study}: {len(adaptive.rounds)} round(s), trained {trained} runs. "
              f"Stopped: {adaptive.reason}.")
        for label, n in adaptive.seeds.items():
            print(f"  {label:<24} {n:>3} seeds, 95% CI half-width "
                  f"{adaptive.half_widths[label]:.2f} points")
        for pair, mdd in adaptive.detectable.items():
            print(f"  {pair:<36} detectable difference (80% power) {mdd:.2f} points")
        return 0 if adaptive.ok else 1
    res = api.run(args.study, **options)
    _print_result(res)
    return 0 if res.last.ok else 1


def _print_result(res) -> None:
    if hasattr(res.last, "budget"):  # a search (sweeplab.search.SearchSummary)
        _print_search(res, res.last)
    else:
        _print_summary(res, res.last)


def _print_search(res, s) -> None:
    print(f"{s.study}: trained {s.trained} runs in {s.seconds:.1f} s; {s.spent} of the "
          f"budget's {s.budget} runs used, {s.candidates} candidates, {s.dropped} dropped. "
          f"Store: {res.path}")
    for label, seed, err in s.failed:
        print(f"  FAILED {label} seed {seed}: {err}")
    if s.answer is not None:
        print(f"  {s.answer.sentence}.")
        print(f"  (within noise: {s.answer.test})")
    elif not s.failed:
        print("  not finished: run it again to continue the same search.")


def _print_summary(res, summary) -> None:
    busy = len(summary.busy)
    if summary.trained == 0 and not summary.failed and not busy:
        print(f"{summary.study}: nothing to train, all {summary.total} runs are already in "
              f"{res.path}.")
    else:
        print(f"{summary.study}: trained {summary.trained} runs in {summary.seconds:.1f} s, "
              f"{summary.skipped} were already done, "
              f"{f'{busy} left to another process training them, ' if busy else ''}"
              f"{len(summary.failed)} failed ({summary.total} in all). Store: {res.path}")
    for label, seed, err in summary.failed:
        print(f"  FAILED {label} seed {seed}: {err}")
    for row in res.final(summary.study, metrics=["test_acc"]).itertuples():
        spread = (f"+- {100 * row.std:.2f} (n={row.n}, 95% CI "
                  f"{100 * row.ci_low:.2f}-{100 * row.ci_high:.2f})" if row.n > 1
                  else "(n=1: no spread yet, run more seeds)")
        print(f"  {row.config:<24} final test accuracy {100 * row.mean:.2f}% {spread}")


def cmd_check(args: argparse.Namespace) -> int:
    if args.store is not None:
        from sweeplab import api

        if args.studies:
            raise CliError("give study files or --store, not both")
        found = api.check(args.store, repair=args.repair)
        print("\n".join(found.lines()))
        return 0 if found.ok else 1
    if args.repair or not args.studies:
        raise CliError("give study files to validate, or --store PATH (with --repair) to "
                       "check a store")
    for name in args.studies:
        study = st.resolve(name)
        if study.search is not None:
            s = study.search
            print(f"{name}: ok: search {study.name!r}, {study.base.dataset}, "
                  f"{len(s.params)} parameters ({', '.join(p.name for p in s.params)}), "
                  f"{s.sampler} sampler, budget {s.budget} runs x {study.base.epochs} epochs")
            continue
        n, seeds = len(st.expand(study)), len(study.seeds)
        print(f"{name}: ok: study {study.name!r}, {study.base.dataset}, {n} configs x {seeds} "
              f"seeds x {study.base.epochs} epochs = {n * seeds} runs")
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    if args.name:
        sys.stdout.write(st.study_to_toml(st.resolve(args.name)))
        return 0
    for name, study in st.BUILTIN.items():
        if study.search is not None:  # candidates are proposed as it runs: its budget
            shape = (f"search, {len(study.search.params)} parameters, {study.base.epochs:>2} "
                     f"epochs, budget {study.search.budget:>3} runs")
        else:
            planned = st.expand(study)
            shape = (f"{len(planned):>2} configs x {len(study.seeds):>2} seeds x "
                     f"{study.base.epochs:>2} epochs = {len(planned) * len(study.seeds):>3} runs")
        print(f"{name:<6} {study.base.dataset:<8} {shape}  {study.title}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from sweeplab import api

    res = api.open(args.store)
    views = res.views()
    if not views:
        print(f"{res.path}: no studies yet.")
    interrupted = False
    for v in views:
        d, seeds = v.definition, v.seeds
        subset = d.get("subset")
        shape = (f"a search of {len(v.configs)} candidates, " if v.search is not None else
                 f"{len(v.configs)} configs x {len(seeds)} seeds x ")
        print(f"{v.name}: {v.runs_done}/{v.runs_total} runs done, {shape}{d.get('epochs')} "
              f"epochs ({d.get('dataset')}{f', subset {subset}' if subset else ''})")
        if v.configs:  # a user's model and data, without building it (issue 20)
            from sweeplab.usermodels import describe_lines
            params = [dict((c.config.get("model") or {}).get("params") or {}) for c in v.configs]
            varying = {k for p in params for k in p if any(q.get(k) != p[k] for q in params)}
            print("".join(f"  {x}\n" for x in describe_lines(v.configs[0].config, build=False,
                                                                varying=varying)), end="")
        for c in v.configs:
            n = c.counts
            interrupted = interrupted or bool(n.get("interrupted"))
            extra = "".join(f", {n[k]} {k}" for k in ("running", "interrupted", "failed",
                                                      "damaged") if n.get(k))
            by = c.trained_by
            done = f"{len(c.runs)}/{len(seeds)} done"
            if v.search is not None:  # a candidate's seeds: as many as the race gave it
                done = (f"{len(c.runs)} run{'s' * (len(c.runs) != 1)}, "
                        f"{readout.race_status(v, c.config_hash)}")
            print(f"  {c.config_hash[:10]}  {c.label:<24} {done}{extra}{f'  [{by}]' if by else ''}")
        if v.adaptive:
            opt = "--until-detect" if v.adaptive.get("detect") else "--until-ci"
            print(f"  adaptive seeds ({opt} {v.adaptive['target_points']:g}): stopped "
                  f"because {v.adaptive['reason']}")
    if interrupted:
        print("interrupted: started by a process that is gone (Ctrl-C, kill, crash); "
              "the next `sweeplab run` trains them again.")
    others = res.unlisted_configs()
    if others:
        print(f"configs in no current study: {len(others)} "
              f"({', '.join(h[:10] for h in others[:8])}{' ...' if len(others) > 8 else ''})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from sweeplab import api
    from sweeplab.analysis.seeds import runs_floor

    res = api.open(args.store)
    summary = res.summary(config=args.config).set_index(["config_hash", "epoch", "metric"])
    for c in res.config_views(args.config):
        h, cfg, results = c.config_hash, c.config, c.runs
        print(f"{c.name}  [{h}]")
        print(f"  {S.describe(S.config_from_dict(cfg))}")
        from sweeplab.usermodels import describe_lines  # a user's model/data (issue 20)
        print("".join(f"  {line}\n" for line in describe_lines(cfg)), end="")
        print(f"  dataset {cfg['dataset']}"
              f"{', subset ' + str(cfg['subset']) if cfg.get('subset') else ''}; "
              f"{len(results)} finished runs (seeds {[r.seed for r in results]})")
        if not results:
            continue
        print(f"  trained by {c.trained_by}")
        print(f"  {'epoch':>5} {'train loss':>17} {'train acc %':>15} {'test loss':>17} "
              f"{'test acc %':>15}")
        for e in range(min(len(r.epochs) for r in results)):
            cols = []
            for metric in ("train_loss", "train_acc", "test_loss", "test_acc"):
                w, d, scale = (15, 2, 100) if metric.endswith("acc") else (17, 4, 1)
                row = summary.loc[(h, e, metric)] if (h, e, metric) in summary.index else None
                n = 0 if row is None else int(row["n"])
                if getattr(results[0].epochs[e], metric) is None:  # epoch 0: not trained
                    cols.append(f"{'-':>{w}}")
                elif n < len(results):  # diverged runs: no mean of inf; say how many
                    cols.append(f"{f'{len(results) - n} not finite':>{w}}")
                else:
                    mean, sd = scale * row["mean"], scale * row["std"] if n > 1 else 0.0
                    cols.append(f"{f'{mean:.{d}f} +- {sd:.{d}f}':>{w}}")
            print(f"  {e:>5} " + " ".join(cols))
        print(f"  (mean +- std over n={len(results)} seeds; epoch 0 = untrained)")
        if c.variance_split is None:  # else its test against the test set's own part says it
            print(f"  test-set noise: {runs_floor(results).sentence()}")
        _print_outcomes(c)
        _print_run_diagnostics(cfg, results)
    return 0


def _print_outcomes(c) -> None:
    """The per-example numbers of a config's view: the test set's variance, ensembles, churn."""
    if len(c.runs) < 2:
        return
    if c.outcomes is None:
        print(f"  per-example numbers: not available: {c.outcomes_lack}")
        return
    print(f"  test set vs distribution: {c.variance_split.sentence()}")
    if c.val_variance_split is not None:
        print(f"  validation split vs distribution: "
              f"{c.val_variance_split.sentence(split='validation')}")
    e = c.ensemble
    print(f"  {e.sentence()} Majority vote of N seeds: "
          + ", ".join(f"{n}: {100 * a:.2f}%" for n, a in zip(e.sizes, e.accuracy, strict=True)))
    print(f"  churn: two seeds predict {100 * c.churn:.2f}% of the test examples differently "
          f"(mean over pairs); {int(c.outcomes.never_right.sum())} examples no seed gets "
          "right")


def _print_run_diagnostics(cfg: dict, results) -> None:
    from sweeplab.analysis.diagnostics import diagnose
    from sweeplab.analysis.explain import run_line

    names = S.class_names(cfg)  # a user's data has its own (issue 20)
    print("  diagnostics per run (`sweeplab diagnose` explains them):")
    for r in results:
        print(f"    {run_line(diagnose(r), names)}")


def cmd_diagnose(args: argparse.Namespace) -> int:
    from sweeplab import api
    from sweeplab.analysis.explain import ordered_axes, report_lines, sweep_lines

    ref = f"{args.study}:{args.config}" if args.config else args.study
    res = api.open(args.store)
    configs = res.config_views(ref)
    view = res.view(configs[0].study) if configs and configs[0].study else None
    ordered = view is not None and ordered_axes(view.definition)
    for c in configs:
        names = S.class_names(c.config)  # a user's data has its own (issue 20)
        print("\n".join(report_lines(f"{c.name} [{c.config_hash[:10]}]", c.runs, names,
                                      split=c.variance_split)))
    for line in sweep_lines([(c.name, c.runs) for c in configs], ordered,
                            outcomes=[c.outcomes for c in configs],
                            steps=view is None or not view.is_search):
        print(line)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from sweeplab import api

    refs = list(args.refs)
    if len(refs) == 3:
        args.store = refs.pop(0)
    if len(refs) != 2:
        raise CliError(f"compare needs two configs (and optionally a store first). "
                       f"Received: {args.refs}")
    print(api.open(args.store).compare(refs[0], refs[1], args.metric))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from sweeplab import api
    from sweeplab.analysis import seeds

    if not (math.isfinite(args.detect) and args.detect > 0):
        raise CliError(f"--detect must be a positive number of accuracy points. "
                       f"Received: --detect {args.detect:g}")
    view = api.open(args.store).view(args.study)
    if view.is_search:
        raise CliError(f"{args.study!r} is a search: its race gives each candidate its seeds "
                       f"(its budget), and its candidates are no sequence of neighbouring "
                       f"pairs. For two of them, `sweeplab compare` says what their seeds "
                       f"can detect.")
    views = view.configs
    rows = seeds.plan([(c.label, c.final()) for c in views], args.detect / 100)
    print(f"{args.study}: seeds needed to detect {args.detect:g} points of final test accuracy "
          "between neighbouring configurations (80% power, two-sided t-test at alpha 0.05, from "
          "the spread of the runs stored so far; in points)")
    if not rows:
        print("  fewer than two configurations with runs: nothing to compare. Against a "
              "configuration with the same spread (unpaired; shared seeds usually need fewer):")
        for c in views:
            if len(c.runs) >= 2:
                sd = c.summary().std
                need = seeds.seeds_to_detect(args.detect / 100, sd, paired=False)
                print(f"  {c.label}: sd {100 * sd:.3f} points over {len(c.runs)} runs: "
                      f"{seeds.seed_count(need)} seeds per configuration")
        return 0
    print("\n".join("  " + line for line in seeds.plan_lines(rows, args.detect)))
    print("  (the spread of a few seeds is itself uncertain: treat the counts as rough; paired "
          "counts are shared seeds, unpaired counts are seeds per configuration)")
    return 0


def _write_report(args: argparse.Namespace, studies) -> None:
    from sweeplab import api

    out = args.out or ("report.html" if args.format == "html" else "report")
    path = api.open(args.store, data_dir=args.data_dir).report(out, studies, fmt=args.format)
    print(f"report: {path}")


def cmd_report(args: argparse.Namespace) -> int:
    _write_report(args, args.studies or None)
    return 0


def cmd_assignment(args: argparse.Namespace) -> int:
    from sweeplab import api

    studies = [st.with_overrides(s, seeds=None if s.search else args.seeds, epochs=args.epochs,
                                 subset=args.subset)  # a search (q7s) gives its own seeds
               for s in st.BUILTIN.values()]
    from sweeplab.search import SearchError, load_optuna

    try:
        load_optuna()  # the search extra: without it the grids still run
    except SearchError as err:
        left = [s.name for s in studies if s.search]
        studies = [s for s in studies if not s.search]
        print(f"sweeplab assignment: {', '.join(left)} left out: {err}", file=sys.stderr)
    for dataset in dict.fromkeys(s.base.dataset for s in studies):  # check data first
        data_mod.load(dataset, args.data_dir, args.subset)
    ok = True
    options = {**_run_options(args), "seeds": None, "epochs": None, "subset": None}  # in the
    # studies already, as each takes them (a search keeps its own seeds)
    for study in studies:
        res = api.run(study, **options)
        _print_result(res)
        ok = ok and res.last.ok
    _write_report(args, [s.name for s in studies])
    return 0 if ok else 1


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from sweeplab import api
    from sweeplab.saved_models import read_images

    res = api.open(args.store)
    model_path = res.model_path(args.config, args.seed)  # no run or no model: one line first
    classes = res.class_names(args.config)
    inputs = []  # every file checked before TensorFlow is imported (seconds) for the model
    for path in args.images:
        try:
            inputs.append((path, res.inputs(args.config, read_images(path))))
        except ValueError as err:
            raise CliError(f"{path}: {err}" if path not in str(err) else str(err)) from None
    for path, images in inputs:
        outputs = res.predict(args.config, args.seed, images)
        print(f"{path}: {len(outputs)} image(s), model {model_path}")
        for i, out in enumerate(outputs):
            k = int(np.argmax(out))
            if classes[k] == str(k):
                print(f"  {i:>5}  class {k}  output {float(out[k]):.4f}")
            else:  # the dataset's own classes (a user's string labels): the name first
                print(f"  {i:>5}  {classes[k]}  (class {k}, output {float(out[k]):.4f})")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    names = args.name or list(data_mod.DATASETS)
    for name in names:
        row = data_mod.describe(name, args.data_dir)
        where = row["found"] or "-"
        print(f"{name}: {where}")
        if row["error"]:
            print(f"  {row['error']}")
            continue
        print(f"  files {', '.join(row['files'])}")
        print(f"  train {row['train_shape']}  class counts {row['train_counts']}")
        print(f"  test  {row['test_shape']}  class counts {row['test_counts']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from sweeplab import api

    print(api.open(args.store).export(args.target, args.dest, args.studies or None).line())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from sweeplab import api
    from sweeplab.serve import serve

    res = api.open(args.store)  # a missing, foreign, newer or damaged store: one line here
    serve(res, args.host, args.port, say=lambda m: print(f"sweeplab serve: {m}", file=sys.stderr))
    return 0


COMMANDS = {
    "run": cmd_run,
    "studies": cmd_studies,
    "check": cmd_check,
    "ls": cmd_ls,
    "show": cmd_show,
    "diagnose": cmd_diagnose,
    "serve": cmd_serve,
    "compare": cmd_compare,
    "plan": cmd_plan,
    "report": cmd_report,
    "assignment": cmd_assignment,
    "data": cmd_data,
    "predict": cmd_predict,
    "export": cmd_export,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
