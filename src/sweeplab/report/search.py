"""A search's section: the race ladder, the incumbent against runs spent, what mattered
(Optuna's parameter importances) and the answer on fresh seeds. Read from the view."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sweeplab.readout import StudyView, search_answer, search_frame
from sweeplab.report.blocks import Block, Table, Text
from sweeplab.study import format_value


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.2f}"


def importances(sd: StudyView, store_path: str) -> dict[str, float] | None:
    """Optuna's ``get_param_importances`` over the search's history (None: unavailable)."""
    from sweeplab.search import journal_path

    journal = journal_path(store_path, sd.name)
    if not Path(journal).exists():
        return None
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(journal)))
        study = optuna.load_study(study_name=None, storage=storage)  # its one study (named
        # as the search was when it ran: a redefined study's journal keeps the old name)
        return dict(optuna.importance.get_param_importances(study))
    except Exception:  # noqa: BLE001 - too few trials, or no Optuna here: said in words
        return None


def space_text(params: list[dict]) -> str:
    """The searched parameters in words: "w1 (layers.1.units) 8-256, log; opt
    (optimizer.name) adam or sgd"."""
    def one(p: dict) -> str:
        if "choices" in p:  # a grid axis's values by their labels (q7a's layer lists)
            what = " or ".join(p.get("labels") or [format_value(c) for c in p["choices"]])
        else:
            low, high = p.get("int") or p["float"]
            what = f"{low:g}-{high:g}" + (", log" if p.get("log") else "")
        return f"{p['name']} ({p['path']}) {what}"

    return "; ".join(one(p) for p in params)


def base_model(sd: StudyView) -> tuple[str, Any]:
    """What the section's "model" block shows for a search: its space in words and the
    best candidate (or, before the answer, the first)."""
    answer = search_answer(sd)
    best = next((c for c in sd.configs if answer is not None and c.config_hash ==
                 answer.best.key), None)
    who = (f"the best candidate's model ({best.label})" if best is not None
           else "the first candidate's model")
    return (f"Searched: {space_text(sd.definition['search']['params'])}; "
            f"{who}:", best if best is not None else next(iter(sd.configs), None))


def search_blocks(sd: StudyView, store_path: str) -> list[Block]:
    """The search's blocks (none for a study without a [search])."""
    if sd.search is None:
        return []
    search = sd.definition["search"]
    df = search_frame(sd)
    metric = search["metric"]
    blocks: list[Block] = [Text(
        f"A search: Optuna's {search['sampler']} sampler proposed {len(df)} candidates; "
        f"every candidate got seeds 0, 1, ... in order, and after {search['first_test']} "
        f"seeds one that a {sd.search_test} found worse on {sd.search_score} got no more "
        f"seeds (at most {search['max_seeds']} in the race). Then the "
        f"{search['finalists']} best trained again on {search['fresh_seeds']} fresh seeds; "
        f"the budget ({search['budget']} runs) counts them too.", "note")]
    drops = sd.search.get("drop_step", {})
    rows = []
    for r in df.itertuples():
        when = (f"after {drops[r.config_hash]} seeds" if r.status == "dropped"
                and r.config_hash in drops else "")
        rows.append((r.config, str(r.n), _pct(r.mean), r.status, when,
                     _pct(r.fresh_mean), _pct(r.test_mean)))
    blocks.append(Table(f"The race ladder ({sd.search_score} x100 over the race's seeds; "
                        "finalists also on fresh seeds)",
                        ("candidate", "seeds", f"{metric} mean", "status", "dropped",
                         f"fresh {metric}", "fresh test_acc"), tuple(rows)))
    labels = dict(zip(df["config_hash"], df["config"], strict=True))
    history = sd.search.get("history", [])
    if history:
        blocks.append(Table("The incumbent against runs spent (each change)",
                            ("runs spent", "incumbent", f"its {metric} mean then"),
                            tuple((str(n), labels.get(h, h[:10]), _pct(m))
                                  for n, h, m in history)))
    imp = importances(sd, store_path)
    if imp:
        blocks.append(Table("Parameter importance (Optuna's get_param_importances, fANOVA "
                            "over the candidates' told means: the share of the variation in "
                            f"{metric} each parameter explains)", ("parameter", "importance"),
                            tuple((k, f"{v:.2f}") for k, v in imp.items())))
    answer = search_answer(sd)
    if answer is not None:
        blocks.append(Text(answer.sentence + ".", "finding"))
        seeds = (f"the seeds every finalist has (the race's first {answer.n_shared} and "
                 f"the {answer.n_fresh} fresh ones)" if answer.n_shared else "the fresh seeds")
        also = f" and the {answer.p_over}" if answer.p_over else ""
        new = ("" if answer.best.two_way is None else
               " The interval on a new test set adds the test set's sampling to the seeds' "
               "(what a new test set from the same distribution would say, as `compare` "
               "states it); the t-interval is about this test set.")
        blocks.append(Text(f"Best: the finalist with the best mean {metric} over {seeds}; "
                           f"P(best): the share of bootstrap resamples of those seeds (as "
                           f"shared blocks){also} in which it stays best. Within noise: "
                           f"{answer.test}. Test accuracy and its 95% t-interval come from "
                           f"the fresh seeds only, which the race never saw.{new}", "note"))
    else:
        blocks.append(Text("The search is not finished: run it again to continue the same "
                           "search (the final round on fresh seeds gives the answer).", "warn"))
    return blocks
