"""What the dashboard shows, as plain JSON-able dicts (pure: no web code here).

Every number comes from the public API (``sweeplab.open(path)`` -> ``Results``: its views,
frames, summary, compare, confusion), so a mean or an interval is computed the one way the
report and the API compute it. The store is never opened here.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from sweeplab.readout import METRICS

AXIS_LIMIT = 12  # parallel-coordinates and sweep plots use at most this many axes


def _f(x: Any) -> float | None:
    """A float for JSON: NaN and infinities (not JSON) become None."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _plain(x: Any) -> Any:
    """An axis value as JSON: numbers and strings as themselves, anything else as text."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, (int, float)) or hasattr(x, "item"):
        v = x.item() if hasattr(x, "item") else x
        return _f(v) if isinstance(v, float) else v
    return str(x)


# --------------------------------------------------------------------------- views


def progress(view: Any) -> dict[str, Any]:
    """Running / interrupted / failed counts (as ``sweeplab ls`` counts them), when the
    study (a readout.StudyView) started, and an ETA: the runs left times the median wall
    time of a finished run, over the runs training now."""
    n = {k: sum(c.counts.get(k, 0) for c in view.configs)
         for k in ("running", "interrupted", "failed", "damaged")}
    seeds = set(view.seeds)
    rows = [r for c in view.configs for r in c.rows.values() if r.seed in seeds]
    started = min((r.started_at for r in rows if r.started_at), default=None)
    walls = [r.wall_seconds for r in rows if r.status == "done" and r.wall_seconds]
    eta = None
    if n["running"] and walls:
        eta = (view.runs_total - view.runs_done) * statistics.median(walls) / n["running"]
    return {**n, "started": started, "eta_seconds": _f(eta)}


def studies(res: Any) -> list[dict[str, Any]]:
    """The studies page: one dict per study."""
    return [{"study": v.name, "title": v.definition.get("title", ""),
             "dataset": v.definition.get("dataset"), "configs": len(v.configs),
             "seeds": len(v.seeds), "epochs": v.definition.get("epochs"),
             "runs_done": v.runs_done, "runs_total": v.runs_total, **progress(v)}
            for v in res.views()]


def _flags(c: Any) -> tuple[str, ...]:
    """The report's diagnostics of a config (a readout.ConfigView) in words: silent classes,
    collapse, then explain.flags (dead units, divergence, over-fitting, runs that did not
    learn)."""
    from sweeplab.analysis import explain

    e = c.explanation
    if e is None:
        return ()
    n = len(e.runs)
    out = []
    silent = [d for d in e.runs if d.silent]
    if silent:
        out.append(f"silent classes in {len(silent)} of {n} runs (up to "
                   f"{max(d.silent for d in silent)} classes never predicted)")
    collapsed = [d for d in e.runs if d.collapsed]
    if collapsed:
        out.append(f"collapsed onto one class in {len(collapsed)} of {n} runs")
    return tuple(out + explain.flags(e))


def study(res: Any, name: str, metric: str = "test_acc") -> dict[str, Any]:
    """The study page: configs with n, mean and 95% CI of the final ``metric``, best and
    worst seed, flags; the curves (mean and CI per epoch) of every metric; the axes."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}. Allowed: {', '.join(METRICS)}")
    from sweeplab.study import study_from_dict

    view = res.view(name)  # raises the API's "no study ... It has: ..." error
    spec = study_from_dict(view.definition, name=name)
    axes = [a.name for a in spec.axes]
    scales = {a.name: a.scale for a in spec.axes}  # the study's plot hints
    if spec.search is not None:  # its parameters are its axes (a grid's become choices)
        axes = [p.name for p in spec.search.params]
        scales = {p.name: "category" if p.kind == "choices" else "log" if p.log else "linear"
                  for p in spec.search.params}
    configs = res.configs(name).to_dict("records")
    views = {c.config_hash: c for c in view.configs}
    runs = res.runs(name)
    summary = res.summary(name)
    curves: dict[str, dict[str, Any]] = {}
    for (h, m), s in summary.sort_values("epoch").groupby(["config_hash", "metric"]):
        curves.setdefault(h, {})[m] = {k: [_f(v) if k != "epoch" else int(v) for v in s[k]]
                                       for k in ("epoch", "n", "mean", "ci_low", "ci_high")}
    # Results.final is this summary at each config's last epoch: the same rows, taken here
    # from the frame already read instead of summarising the study twice.
    last = summary[summary["metric"] == metric].sort_values("epoch")
    final = {h: g.iloc[-1] for h, g in last.groupby("config_hash")}
    out_configs = []
    for c in configs:
        h = c["config_hash"]
        f = final.get(h, {})
        mine = runs[runs["config_hash"] == h]
        best = worst = None
        if len(mine):
            hi, lo = (mine.loc[mine[metric].idxmax()], mine.loc[mine[metric].idxmin()])
            if metric.endswith("loss"):
                hi, lo = lo, hi
            best = {"seed": int(hi["seed"]), "value": _f(hi[metric])}
            worst = {"seed": int(lo["seed"]), "value": _f(lo[metric])}
        out_configs.append({
            "config": c["config"], "config_hash": h,
            "axes": {a: _plain(c.get(a)) for a in axes},
            "n": int(f.get("n", 0) or 0), "mean": _f(f.get("mean")), "std": _f(f.get("std")),
            "ci_low": _f(f.get("ci_low")), "ci_high": _f(f.get("ci_high")),
            "best": best, "worst": worst, "curves": curves.get(h, {}),
            "flags": list(_flags(views[h]))})
    progress_row = {"study": name, "runs_done": view.runs_done,
                    "runs_total": view.runs_total, **progress(view)}
    return {"study": name, "title": spec.title, "metric": metric, "axes": axes[:AXIS_LIMIT],
            "scales": scales, "search": spec.search is not None,
            "progress": progress_row, "configs": out_configs,
            # records that failed their checksum or did not parse: named, left out of n
            "damaged": list(view.damaged)}


def run_curves(res: Any, name: str, config_hash: str) -> list[dict[str, Any]]:
    """Each finished run's curves of one config of the study (shown on demand)."""
    ep = res.epochs(name)
    ep = ep[ep["config_hash"] == config_hash]
    out = []
    for seed, g in ep.groupby("seed"):
        out.append({"seed": int(seed), "epoch": [int(e) for e in g["epoch"]],
                    **{m: [_f(v) for v in g[m]] for m in METRICS}})
    return out


def _ref(res: Any, study: str, config_hash: str) -> str:
    """The API's name for a config of a study: ``STUDY:LABEL``."""
    label = next((c["config"] for c in res.configs(study).to_dict("records")
                  if c["config_hash"] == config_hash), None)
    if label is None:
        raise ValueError(f"study {study!r} has no config {config_hash[:10]!r}")
    return f"{study}:{label}"


def compare(res: Any, name: str, a: str, b: str, metric: str = "test_acc"
            ) -> dict[str, Any]:
    """``Results.compare`` of two configs (by hash) of the study: the same object and words
    as ``sweeplab compare``, with its numbers in the metric's display scale."""
    r = res.compare(_ref(res, name, a), _ref(res, name, b), metric)
    k = r.scale
    c = r.comparison

    def side(ref: Any, s: Any) -> dict[str, Any]:
        return {"name": ref.name, "config_hash": ref.config_hash, "n": s.n, "mean": _f(k * s.mean),
                "std": _f(k * s.std), "ci_low": _f(k * s.ci_low), "ci_high": _f(k * s.ci_high)}

    return {"metric": r.metric, "scale": k, "a": side(r.a, r.summary_a),
            "b": side(r.b, r.summary_b), "paired": c.paired, "n_pairs": c.n_pairs,
            "note": c.note, "diff": _f(k * c.diff), "ci_low": _f(k * c.ci_low),
            "ci_high": _f(k * c.ci_high), "boot_low": _f(k * c.boot_low),
            "boot_high": _f(k * c.boot_high), "p_t": _f(c.p_t), "p_rank": _f(c.p_rank),
            "effect_size": _f(c.effect_size), "distinguishable": c.distinguishable,
            "text": r.text, "selected": r.selected}


def run(res: Any, name: str, config_hash: str, seed: int) -> dict[str, Any]:
    """The run page: per-epoch metrics, confusion matrix, diagnostics, engine, device, node."""
    from sweeplab.analysis.diagnostics import diagnose
    from sweeplab.analysis.explain import run_line

    ref = _ref(res, name, config_hash)
    runs = res.runs(name)
    row = runs[(runs["config_hash"] == config_hash) & (runs["seed"] == seed)]
    if not len(row):
        raise ValueError(f"{ref!r} has no finished run with seed {seed}")
    r = row.iloc[0]
    ep = res.epochs(name)
    ep = ep[(ep["config_hash"] == config_hash) & (ep["seed"] == seed)]
    cm = res.confusion(ref, seed)
    record = next(r for c in res.config_views(ref) for r in c.runs if r.seed == seed)
    names = [str(x) for x in cm.index]
    return {"study": name, "config": ref.partition(":")[2], "config_hash": config_hash,
            "seed": seed,
            "facts": {k: (str(r[k]) if r[k] else None)  # None or "": not recorded
                      for k in ("engine", "backend", "device", "node")},
            "wall_seconds": _f(r["wall_seconds"]),
            "epochs": [{"epoch": int(e["epoch"]), **{m: _f(e[m]) for m in METRICS},
                        "seconds": _f(e["seconds"])} for e in ep.to_dict("records")],
            "classes": names, "confusion": [[int(v) for v in row] for row in cm.to_numpy()],
            "diagnostics": run_line(diagnose(record), names)}


def search(res: Any, name: str) -> dict[str, Any]:
    """A search's live state, from the readout functions the report uses
    (readout.search_frame and readout.search_answer on the study's view): its candidates
    (parameters, seeds run, mean, status, when dropped), the incumbent and each time it
    changed, runs spent of the budget, and the answer's sentence once the final round is
    done. ``{"search": None}`` for a study that is not a search."""
    from sweeplab.readout import search_answer, search_frame

    view = res.view(name)
    if view.search is None:
        return {"study": name, "search": None}
    definition = view.definition["search"]
    df = search_frame(view)
    names = [p["name"] for p in definition["params"]]
    drops = view.search.get("drop_step", {})
    labels = dict(zip(df["config_hash"], df["config"], strict=True))
    candidates = [{
        "config": r["config"], "config_hash": r["config_hash"],
        "params": {n: _plain(r[n]) for n in names}, "n": int(r["n"]), "mean": _f(r["mean"]),
        "status": r["status"],
        "dropped_after": drops.get(r["config_hash"]) if r["status"] == "dropped" else None,
        "fresh_mean": _f(r["fresh_mean"]), "test_mean": _f(r["test_mean"])}
        for r in df.to_dict("records")]
    history = [{"runs": int(n), "config": labels.get(h, h[:10]), "config_hash": h,
                "mean": _f(m)} for n, h, m in view.search.get("history", [])]
    answer = search_answer(view)
    return {
        "study": name, "search": {k: definition[k] for k in (
            "budget", "sampler", "metric", "first_test", "max_seeds", "pool", "finalists",
            "fresh_seeds")},
        "params": names, "test": view.search_test, "score": view.search_score,
        "runs_done": view.runs_done, "budget": int(definition["budget"]),
        "candidates": candidates, "history": history,
        "incumbent": ({**next(c for c in candidates if c["config_hash"] ==
                                history[-1]["config_hash"]), "since_runs": history[-1]["runs"]}
                      if history and history[-1]["config_hash"] in labels else None),
        "finalists": [labels.get(h, h[:10]) for h in view.search.get("finalists", [])],
        "finished": answer is not None,
        "sentence": answer.sentence if answer is not None else None,
        "within_noise": answer.test if answer is not None else None}


HARD = 12  # hard examples listed per kind, as the report shows


def _split_numbers(v: Any) -> dict[str, Any]:
    """A VarianceSplit's numbers in points: mean, the seeds' std and its parts."""
    return {k: _f(100 * getattr(v, k)) for k in (
        "mean", "seeds_std", "binomial_std", "test_set_std", "distribution_std",
        "distribution_high")}


def outcomes(res: Any, name: str) -> dict[str, Any]:
    """The study's per-example numbers from the views' memoised outcomes, in points (%): per
    config with >= 2 seeds the std split (test set vs distribution, beside the binomial
    floor), the ensemble curve, churn and the hard examples of ``main`` (the best mean), and
    the same split, churn and vote on the validation split where runs kept its predictions;
    a config whose runs kept no predictions says why.
    """
    from sweeplab import spec as S
    from sweeplab.analysis import outcomes as O

    view = res.view(name)
    configs: list[dict[str, Any]] = []
    for c in view.configs:
        if len(c.runs) < 2:
            continue
        row: dict[str, Any] = {"config": c.label, "config_hash": c.config_hash,
                               "seeds": len(c.runs)}
        o, v, e = c.outcomes, c.variance_split, c.ensemble
        if o is None or v is None or e is None:
            configs.append({**row, "lack": c.outcomes_lack or "no per-example outcomes"})
            continue
        names = S.class_names(c.config)
        never, split = O.hard_examples(o, HARD)

        def example(i: int, o: Any = o, names: Any = names) -> dict[str, Any]:
            votes = o.votes[i]
            order = [int(k) for k in (-votes).argsort(kind="stable") if votes[k]]
            return {"example": int(i), "label": names[int(o.labels[i])],
                    "right": _f(o.difficulty[i]),
                    "votes": [[names[k], int(votes[k])] for k in order]}

        configs.append({
            **row, "lack": None, "n_test": v.n_test, **_split_numbers(v),
            "sentence": v.sentence(),
            "ensemble": {"sizes": list(e.sizes), "accuracy": [_f(100 * a) for a in e.accuracy],
                         "low": [_f(100 * a) for a in e.low],
                         "high": [_f(100 * a) for a in e.high]},
            "ensemble_sentence": e.sentence(), "churn": _f(100 * c.churn),
            "never_right": int(o.never_right.sum()), "split": int(o.split.sum()),
            "hard": {"never_right": [example(i) for i in never],
                     "split": [example(i) for i in split]},
            "validation": None if (w := c.val_variance_split) is None else {
                **_split_numbers(w), "churn": _f(100 * c.val_churn),
                "vote": _f(100 * c.val_vote)}})
    have = [c for c in configs if c["lack"] is None]
    main = max(have, key=lambda c: c["mean"] or 0.0)["config_hash"] if have else None
    return {"study": name, "configs": configs, "main": main}
