// sweeplab dashboard. Every string from the store is written with textContent (never
// innerHTML) and given to Plotly escaped, so a name is shown as text and never runs.
"use strict";

const PAGE = document.body.dataset.page;
const PARAMS = JSON.parse(document.body.dataset.params || "{}");
const METRICS = ["test_acc", "train_acc", "test_loss", "train_loss"];
const state = { metric: "test_acc", picked: [], shown: new Set(), runCurves: {}, axis: null,
                data: null, connects: 0, updates: 0, search: false };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
// Plotly reads a few tags (<b>, <br>, <a>) in its labels: escape them so a label stays text.
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const isAcc = (m) => m.endsWith("acc");
const scale = (m) => (isAcc(m) ? 100 : 1);
const fmt = (x, m, d) => (x === null || x === undefined ? "-" :
  (scale(m) * x).toFixed(d === undefined ? (isAcc(m) ? 2 : 4) : d));
const unit = (m) => (isAcc(m) ? " %" : "");
const mname = (m) => m.replace("_acc", " accuracy").replace("_loss", " loss").replace("_", " ");

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw Object.assign(new Error(body.error || r.statusText), { status: r.status });
  return body;
}
function fail(err) {
  const main = document.getElementById("main");
  main.replaceChildren(el("p", { class: "error" }, String(err.message || err)));
}
function duration(s) {
  if (s === null || s === undefined) return "-";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
const q = (o) => new URLSearchParams(o).toString();

// ------------------------------------------------------------------------------- live
function connect() {
  const live = document.getElementById("live");
  const es = new EventSource("/events");
  es.addEventListener("hello", () => {
    state.connects += 1;
    live.textContent = "live";
    live.className = "live on";
    live.dataset.connects = state.connects;
    if (state.connects > 1) refresh();  // commits made while we were away
  });
  es.addEventListener("change", () => refresh());
  es.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
}

let busy = false, again = false;
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    await RENDER[PAGE]();
    state.updates += 1;
    document.body.dataset.updates = state.updates;
  } catch (err) {
    fail(err);
    if (err.status === 503) setTimeout(refresh, 2000);  // the store was busy: try again
  }
  busy = false;
  if (again) { again = false; refresh(); }
}

// ----------------------------------------------------------------------------- studies
async function renderStudies() {
  const rows = await getJSON("/api/studies");
  const head = ["study", "title", "dataset", "runs done / total", "running", "interrupted",
                "failed", "started", "ETA"];
  const table = el("table", { id: "studies" },
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const s of rows) {
    const pct = s.runs_total ? (100 * s.runs_done) / s.runs_total : 0;
    body.append(el("tr", { "data-study": s.study },
      el("td", {}, el("a", { href: `/study?${q({ name: s.study })}` }, s.study)),
      el("td", {}, s.title || ""), el("td", {}, s.dataset || ""),
      el("td", { class: "done" }, `${s.runs_done} / ${s.runs_total} `,
        el("progress", { max: 100, value: pct.toFixed(1) })),
      el("td", { class: "num" }, s.running), el("td", { class: "num" }, s.interrupted),
      el("td", { class: "num" }, s.failed),
      el("td", {}, s.started ? s.started.replace("T", " ").replace("+00:00", " UTC") : "-"),
      el("td", {}, s.running ? duration(s.eta_seconds) : "-")));
  }
  table.append(body);
  const main = document.getElementById("main");
  main.replaceChildren(el("h1", {}, "Studies"),
    rows.length ? table : el("p", {}, "No studies in this store yet."),
    el("p", { class: "muted" }, "Interrupted: started by a process that is gone; the next " +
      "`sweeplab run` trains them again. ETA: runs left x median run time / runs training now."));
}

// ------------------------------------------------------------------------------- study
async function renderStudy() {
  const d = await getJSON(`/api/study?${q({ name: PARAMS.name, metric: state.metric })}`);
  state.data = d;
  const main = document.getElementById("main");
  const first = !main.querySelector("#configs");
  if (first) buildStudy(main, d);
  fillStudy(d);
  // Asked once; afterwards only a search's page asks again (a grid study never has one).
  if (first || state.search) {
    const s = await getJSON(`/api/search?${q({ name: PARAMS.name })}`);
    state.search = Boolean(s.search);
    fillSearch(s);
  }
  // Per-example numbers change only when a run finishes: asked then, not on every refresh.
  const done = d.progress.runs_done;
  if (first || done !== state.outcomesAt) {
    state.outcomesAt = done;
    fillOutcomes(await getJSON(`/api/outcomes?${q({ name: PARAMS.name })}`));
  }
}

// One row of the per-example table: a variance split's numbers (points), churn, and the
// vote of all seeds with its gain over ``base``.
function splitRow(attrs, label, seeds, v, churn, vote, base) {
  return el("tr", attrs, el("td", { class: "label" }, label), el("td", { class: "num" }, seeds),
    ...[v.mean, v.seeds_std, v.binomial_std, v.test_set_std].map((x, i) =>
      el("td", { class: "num" }, x === null ? "-" : x.toFixed(i ? 3 : 2))),
    el("td", { class: "num" }, `${v.distribution_std.toFixed(3)} [${
      v.distribution_high.toFixed(3)}]`),
    el("td", { class: "num" }, churn === null ? "-" : churn.toFixed(2)),
    el("td", { class: "num" }, vote === null ? "-" : `${vote.toFixed(2)} (${
      vote - base >= 0 ? "+" : ""}${(vote - base).toFixed(2)})`));
}

// Per-example numbers (the report's readout): the test set's variance separated, what
// ensembling the seeds buys, churn, and the hard examples of the best config.
function fillOutcomes(o) {
  const box = document.getElementById("outcomes");
  if (!o.configs.length) { box.replaceChildren(); return; }
  const head = ["config", "seeds", "mean %", "seeds' std", "binomial floor", "test-set part",
                "distribution-wise std [95% upper]", "churn %", "vote of all % (gain)"];
  const body = el("tbody");
  for (const c of o.configs) {
    if (c.lack !== null) {
      body.append(el("tr", { "data-config": c.config_hash }, el("td", { class: "label" },
        c.config), el("td", { class: "num" }, c.seeds),
        el("td", { colspan: head.length - 2, class: "muted" }, `not available: ${c.lack}`)));
      continue;
    }
    const e = c.ensemble, n = e.accuracy.length;
    body.append(splitRow({ "data-config": c.config_hash }, c.config, c.seeds, c, c.churn,
                         e.accuracy[n - 1], e.accuracy[0]));
    const w = c.validation;  // the same numbers on the validation split's examples
    if (w) body.append(splitRow({ "data-config": c.config_hash, "data-split": "validation" },
                                `${c.config} (validation)`, c.seeds, w, w.churn, w.vote, w.mean));
  }
  const main = o.configs.find((c) => c.config_hash === o.main);
  const kids = [el("h2", {}, "Per example: the test set's variance, seed ensembles"),
    el("p", { class: "muted" }, "Final test accuracy in points. The binomial floor treats " +
      "every test example as an independent coin flip; the test-set part is the share of " +
      "the seeds' variance that is which examples a run happens to get right; the " +
      "distribution-wise std (Jordan 2024) is how much the seeds would differ on new data " +
      "from the same distribution. Churn: test examples two seeds predict differently. A " +
      "row marked (validation): the same on the validation split's examples."),
    el("table", { id: "outcome-numbers" },
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))), body)];
  if (main) {
    kids.push(el("p", { id: "outcome-sentence", class: "finding" },
      `${main.config}: ${main.sentence}`),
      el("p", { class: "finding" }, `${main.config}: ${main.ensemble_sentence}`),
      el("h3", {}, "What ensembling the seeds buys"),
      el("div", { id: "ensemble", class: "plot" }));
    const hard = el("tbody");
    for (const [kind, rows] of [["never right", main.hard.never_right],
                                ["split", main.hard.split]])
      for (const h of rows)
        hard.append(el("tr", { class: `hard-${kind.replace(" ", "-")}` },
          el("td", {}, kind), el("td", { class: "num" }, `#${h.example}`),
          el("td", {}, h.label), el("td", { class: "num" }, (100 * h.right).toFixed(0)),
          el("td", {}, h.votes.map(([k, v]) => `${k}×${v}`).join(", "))));
    kids.push(el("h3", {}, `Hard examples of ${main.config}`),
      el("p", { class: "muted" }, `${main.never_right} test examples are wrong in every ` +
        `seed, and the seeds split on ${main.split} more (the first ones of each, most ` +
        "evenly split first)."),
      el("table", { id: "hard-examples" }, el("thead", {}, el("tr", {},
        ...["kind", "test example", "true class", "seeds right %", "votes (class×seeds)"]
          .map((h) => el("th", {}, h)))), hard));
  }
  box.replaceChildren(...kids);
  if (main) {
    const traces = o.configs.filter((c) => c.lack === null).map((c, i) => ({
      x: c.ensemble.sizes, y: c.ensemble.accuracy, mode: "lines+markers", name: esc(c.config),
      line: { color: PALETTE[i % PALETTE.length] },
      error_y: { type: "data", symmetric: false,
                 array: c.ensemble.high.map((h, j) => h - c.ensemble.accuracy[j]),
                 arrayminus: c.ensemble.low.map((l, j) => c.ensemble.accuracy[j] - l),
                 thickness: 1, width: 3 } }));
    Plotly.react("ensemble", traces, { ...LAYOUT,
      xaxis: { title: { text: "seeds voting (majority vote)" }, dtick: 1 },
      yaxis: { title: { text: "test accuracy %" } } }, CONF);
  }
}

// A search's live state (the report's readout: candidates, race ladder, incumbent, answer).
function fillSearch(s) {
  const box = document.getElementById("search");
  if (!s.search) { box.replaceChildren(); return; }
  const m = s.search.metric;
  const inc = s.incumbent;
  const head = ["candidate", ...s.params, "seeds", `${mname(m)} mean${unit(m)}`, "status",
                "dropped", `fresh ${mname(m)}${unit(m)}`, `fresh test accuracy %`];
  const body = el("tbody");
  for (const c of s.candidates) {
    body.append(el("tr", { "data-config": c.config_hash, class: `status-${c.status}` },
      el("td", { class: "label" }, c.config),
      ...s.params.map((p) => el("td", { class: "num" }, c.params[p] === null ? "-" :
        typeof c.params[p] === "number" && !Number.isInteger(c.params[p]) ?
          Number(c.params[p].toPrecision(3)) : c.params[p])),
      el("td", { class: "num" }, c.n), el("td", { class: "num" }, fmt(c.mean, m)),
      el("td", { class: "status" }, c.status),
      el("td", {}, c.dropped_after === null ? "" : `after ${c.dropped_after} seeds`),
      el("td", { class: "num" }, fmt(c.fresh_mean, m)),
      el("td", { class: "num" }, fmt(c.test_mean, "test_acc"))));
  }
  const hist = el("tbody");
  for (const h of s.history) {
    hist.append(el("tr", {}, el("td", { class: "num" }, h.runs), el("td", {}, h.config),
      el("td", { class: "num" }, fmt(h.mean, m))));
  }
  box.replaceChildren(
    el("h2", {}, "Search"),
    el("p", { id: "search-state" }, `${s.search.sampler} proposes, seeds race: ` +
      `${s.candidates.length} candidates, ${s.runs_done} / ${s.budget} runs of the budget; ` +
      (s.finished ? "done." : inc ? `incumbent ${inc.config} (${mname(m)} ` +
        `${fmt(inc.mean, m)}${unit(m)}, ${inc.n} seeds).` : "no incumbent yet.")),
    el("p", { id: "search-sentence", class: s.finished ? "finding" : "muted" },
      s.finished ? `${s.sentence}.` : "The answer comes after the final round on fresh " +
        "seeds."),
    el("p", { class: "muted" }, `Dropped: ${s.test} on ${s.score}, after ` +
      `${s.search.first_test} seeds` +
      (s.within_noise ? `; within noise: ${s.within_noise}.` : ".")),
    el("table", { id: "race-ladder" },
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))), body),
    el("h3", {}, "The incumbent against runs spent"),
    el("table", { id: "incumbents" }, el("thead", {}, el("tr", {},
      ...["runs spent", "incumbent", `its ${mname(m)} mean then${unit(m)}`].map((h) =>
        el("th", {}, h)))), hist));
}

function buildStudy(main, d) {
  const metricSel = el("select", { id: "metric", onchange: (e) => {
    state.metric = e.target.value; refresh(); } },
    ...METRICS.map((m) => el("option", { value: m }, mname(m))));
  const axisSel = el("select", { id: "axis", onchange: (e) => {
    state.axis = e.target.value; drawSweep(state.data); } },
    ...d.axes.map((a) => el("option", { value: a }, a)));
  state.axis = d.axes[0] || null;
  const pickA = el("select", { id: "pick-a" }), pickB = el("select", { id: "pick-b" });
  main.replaceChildren(
    el("h1", { id: "study-name" }, d.study), el("p", { id: "study-title" }, d.title || ""),
    el("p", { id: "progress" }),
    el("ul", { id: "damaged", class: "warn" }),
    el("div", { id: "search" }),
    el("p", {}, "metric ", metricSel),
    el("h2", {}, "Configurations"),
    el("p", { class: "muted" }, "n finished seeds; mean and Student-t 95% CI of the final " +
      "metric (the API's summary); tick two rows, or choose below, to compare them paired " +
      "over shared seeds."),
    el("table", { id: "configs" }),
    el("h2", {}, "Curves"),
    el("p", { class: "muted" }, "mean over seeds with its 95% CI band; \"runs\" in a row " +
      "adds that config's seeds one by one."),
    el("div", { id: "curves", class: "plot" }),
    el("h2", {}, "Parallel coordinates"),
    el("div", { id: "parcoords", class: "plot" }),
    el("h2", {}, "Sweep"), el("p", {}, "against ", axisSel),
    el("div", { id: "sweep", class: "plot" }),
    el("h2", {}, "Paired comparison"),
    el("p", {}, "A ", pickA, " B ", pickB, " ",
      el("button", { id: "compare-go", onclick: () => compareTwo(pickA.value, pickB.value) },
        "compare")),
    el("div", { id: "compare" }),
    el("div", { id: "outcomes" }));
}

function fillStudy(d) {
  const p = d.progress;
  document.getElementById("progress").textContent =
    `${p.runs_done} / ${p.runs_total} runs done, ${p.running} running, ${p.interrupted} ` +
    `interrupted, ${p.failed} failed` + (p.damaged ? `, ${p.damaged} damaged` : "") +
    (p.running ? `; ETA ${duration(p.eta_seconds)}` : "");
  // damaged records: named, never read (left out of every n and mean)
  document.getElementById("damaged").replaceChildren(
    ...(d.damaged || []).map((line) => el("li", {}, line)));
  const m = d.metric;
  const head = ["", "config", ...d.axes, "n", `mean ${mname(m)}${unit(m)}`, "95% CI",
                "best seed", "worst seed", "diagnostics", ""];
  const table = document.getElementById("configs");
  const body = el("tbody");
  for (const c of d.configs) {
    const tick = el("input", { type: "checkbox", class: "pick", "data-config": c.config_hash,
      onchange: (e) => pick(c.config_hash, e.target.checked) });
    tick.checked = state.picked.includes(c.config_hash);
    const seedLink = (s) => (s ? el("a", { href: `/run?${q({ study: d.study,
      config: c.config_hash, seed: s.seed })}` }, `${s.seed} (${fmt(s.value, m)})`) : "-");
    const runs = el("button", { class: "runs", onclick: () => toggleRuns(c.config_hash) },
      state.shown.has(c.config_hash) ? "hide runs" : "runs");
    body.append(el("tr", { "data-config": c.config_hash },
      el("td", {}, tick), el("td", { class: "label" }, c.config),
      ...d.axes.map((a) => el("td", { class: "num" }, axisText(c.axes[a]))),
      el("td", { class: "num n", "data-config": c.config_hash }, c.n),
      el("td", { class: "num" }, c.n ? fmt(c.mean, m) : "-"),
      el("td", { class: "num" }, c.n > 1 ? `${fmt(c.ci_low, m)} .. ${fmt(c.ci_high, m)}` : "-"),
      el("td", {}, seedLink(c.best)), el("td", {}, seedLink(c.worst)),
      el("td", { class: "flags" }, c.flags.length ? c.flags.join("; ") : ""),
      el("td", {}, runs)));
  }
  table.replaceChildren(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
    body);
  for (const id of ["pick-a", "pick-b"]) {
    const sel = document.getElementById(id), keep = sel.value;
    sel.replaceChildren(...d.configs.map((c) => el("option", { value: c.config_hash },
      c.config)));
    if (keep) sel.value = keep;
  }
  // the table paints first; the charts (parallel coordinates is WebGL) a frame later
  requestAnimationFrame(() => {
    drawCurves(d); drawParcoords(d); drawSweep(d);
    if (state.picked.length === 2) compareTwo(...state.picked);
  });
}

function pick(hash, on) {
  state.picked = state.picked.filter((h) => h !== hash);
  if (on) state.picked.push(hash);
  if (state.picked.length > 2) state.picked.shift();
  for (const box of document.querySelectorAll("input.pick"))
    box.checked = state.picked.includes(box.dataset.config);
  if (state.picked.length === 2) {
    document.getElementById("pick-a").value = state.picked[0];
    document.getElementById("pick-b").value = state.picked[1];
    compareTwo(...state.picked);
  }
}

async function compareTwo(a, b) {
  const box = document.getElementById("compare");
  let r;
  try {
    r = await getJSON(`/api/compare?${q({ study: PARAMS.name, a, b, metric: state.metric })}`);
  } catch (err) { box.replaceChildren(el("p", { class: "error" }, err.message)); return; }
  const k = (x, d) => (x === null ? "-" : x.toFixed(d === undefined ? 3 : d));
  const sgn = (x) => (x === null ? "-" : (x >= 0 ? "+" : "") + x.toFixed(3));
  const side = (s) => el("tr", {}, el("td", {}, `${s.name} ${s.config_hash.slice(0, 8)}`),
    el("td", { class: "num" }, s.n), el("td", { class: "num" }, k(s.mean)),
    el("td", { class: "num" }, s.n > 1 ? k(s.std) : "-"),
    el("td", { class: "num" }, s.n > 1 ? `${k(s.ci_low)} .. ${k(s.ci_high)}` : "-"));
  const rows = [
    ["pairing", r.paired ? `paired over ${r.n_pairs} shared seeds` : r.note],
    ["mean difference", sgn(r.diff)],
    ["95% CI (t)", `${sgn(r.ci_low)} .. ${sgn(r.ci_high)}`],
    ["95% CI (bootstrap)", `${sgn(r.boot_low)} .. ${sgn(r.boot_high)}`],
    ["p (t-test)", r.p_t === null ? "-" : r.p_t.toPrecision(4)],
    [r.paired ? "p (Wilcoxon)" : "p (Mann-Whitney)", r.p_rank === null ? "-" :
      r.p_rank.toPrecision(4)],
    ["effect size", `${r.effect_size === null ? "-" : (r.effect_size >= 0 ? "+" : "") +
      r.effect_size.toFixed(2)} (${r.paired ? "d_z" : "Hedges g"})`]];
  box.replaceChildren(
    el("table", { class: "compare-sides" }, el("thead", {}, el("tr", {},
      ...["config", "n", "mean", "std", "95% CI"].map((h) => el("th", {}, h)))),
      el("tbody", {}, side(r.a), side(r.b))),
    el("p", {}, `difference B - A (${r.metric}${r.scale === 100 ? ", x100" : ""}):`),
    el("table", { class: "compare-diff" }, el("tbody", {},
      ...rows.map(([a, b]) => el("tr", {}, el("th", {}, a), el("td", {}, b))))),
    el("p", { id: "compare-text", class: "verdict" }, r.text),
    ...(r.selected ? [el("p", { id: "compare-selected" }, r.selected)] : []));
}

async function toggleRuns(hash) {
  if (state.shown.has(hash)) state.shown.delete(hash);
  else {
    state.runCurves[hash] = await getJSON(`/api/runs?${q({ study: PARAMS.name, config: hash })}`);
    state.shown.add(hash);
  }
  fillStudy(state.data);
}

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"];
const LAYOUT = { margin: { t: 20, r: 20, b: 50, l: 60 }, height: 380,
                 paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)" };
const CONF = { displaylogo: false, responsive: true };

function drawCurves(d) {
  const m = d.metric, traces = [];
  d.configs.forEach((c, i) => {
    const cv = c.curves[m], color = PALETTE[i % PALETTE.length];
    if (!cv || !cv.epoch.length) return;
    const s = (v) => (v === null ? null : scale(m) * v);
    traces.push({ x: cv.epoch, y: cv.ci_high.map(s), mode: "lines", line: { width: 0 },
                  showlegend: false, hoverinfo: "skip", legendgroup: c.config_hash });
    traces.push({ x: cv.epoch, y: cv.ci_low.map(s), mode: "lines", line: { width: 0 },
                  fill: "tonexty", fillcolor: color + "33", showlegend: false,
                  hoverinfo: "skip", legendgroup: c.config_hash });
    traces.push({ x: cv.epoch, y: cv.mean.map(s), mode: "lines+markers", name: esc(c.config),
                  line: { color }, legendgroup: c.config_hash,
                  text: cv.n.map((n) => `n=${n}`), hovertemplate: "%{y:.3f} (%{text})" });
    if (state.shown.has(c.config_hash))
      for (const r of state.runCurves[c.config_hash] || [])
        traces.push({ x: r.epoch, y: r[m].map(s), mode: "lines", showlegend: false,
                      line: { color, width: 1, dash: "dot" }, legendgroup: c.config_hash,
                      name: esc(`${c.config} seed ${r.seed}`) });
  });
  Plotly.react("curves", traces, { ...LAYOUT, xaxis: { title: { text: "epoch" }, dtick: 1 },
    yaxis: { title: { text: mname(m) + unit(m) } } }, CONF);
}

// An axis value in the table: a search's sampled floats to 3 significant digits, as its labels.
function axisText(v) {
  if (v === null) return "-";
  return typeof v === "number" && !Number.isInteger(v) ? String(Number(v.toPrecision(3))) : v;
}

// An axis as a parallel-coordinates dimension, after the study's plot hint: log2 axes on a
// log scale (ticks at the values), category axes (and any text) one tick per label.
function axisDimension(name, values, hint) {
  const nums = values.every((v) => typeof v === "number");
  const uniq = [...new Set(values.map(String))];
  if (nums && hint === "log2" && values.every((v) => v > 0)) {
    const ticks = [...new Set(values)].sort((a, b) => a - b);
    return { label: esc(name), values: values.map(Math.log2), tickvals: ticks.map(Math.log2),
             ticktext: ticks.map(String) };
  }
  if (nums && hint === "log" && values.every((v) => v > 0)) {  // a search's continuous range
    const lo = Math.floor(Math.log10(Math.min(...values)));
    const hi = Math.ceil(Math.log10(Math.max(...values)));
    const ticks = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
    return { label: esc(name), values: values.map(Math.log10), tickvals: ticks,
             ticktext: ticks.map((t) => String(10 ** t)) };
  }
  if (nums && hint !== "category") return { label: esc(name), values };
  const cats = nums ? [...new Set(values)].sort((a, b) => a - b).map(String) : uniq;
  return { label: esc(name), values: values.map((v) => cats.indexOf(String(v))),
           tickvals: cats.map((_, i) => i), ticktext: cats.map(esc) };
}

function drawParcoords(d) {
  const m = d.metric, done = d.configs.filter((c) => c.n > 0);
  const node = document.getElementById("parcoords");
  if (!done.length || !d.axes.length) {
    Plotly.purge(node);
    node.replaceChildren(el("p", { class: "muted" }, d.axes.length ?
      "no finished runs yet" : "this study has no axes"));
    return;
  }
  if (node.querySelector("p")) node.replaceChildren();
  const vals = done.map((c) => scale(m) * c.mean);
  const dims = d.axes.map((a) => axisDimension(a, done.map((c) => c.axes[a]), d.scales[a]));
  dims.push({ label: esc(`mean ${mname(m)}${unit(m)}`), values: vals });
  Plotly.react(node, [{ type: "parcoords", dimensions: dims,
    line: { color: vals, colorscale: "Viridis", showscale: true,
            reversescale: !isAcc(m) } }],
    { ...LAYOUT, margin: { t: 40, r: 60, b: 20, l: 60 } }, CONF);
}

function drawSweep(d) {
  const m = d.metric, a = state.axis, node = document.getElementById("sweep");
  if (!a) { node.replaceChildren(el("p", { class: "muted" }, "this study has no axes")); return; }
  // a search's candidates: one cloud (each is its own point in every other parameter)
  const others = d.search ? [] : d.axes.filter((x) => x !== a), groups = new Map();
  for (const c of d.configs.filter((c) => c.n > 0)) {
    const key = others.map((o) => `${o}=${c.axes[o]}`).join(", ") || mname(m);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(c);
  }
  const numeric = d.configs.every((c) => typeof c.axes[a] === "number") &&
    d.scales[a] !== "category";
  const xtype = !numeric ? "category" : (["log2", "log"].includes(d.scales[a]) ? "log" : "linear");
  const traces = [...groups.entries()].map(([key, cs], i) => ({
    x: cs.map((c) => (numeric ? c.axes[a] : esc(c.axes[a]))),
    y: cs.map((c) => scale(m) * c.mean), name: esc(key), mode: d.search ? "markers" : "lines+markers",
    line: { color: PALETTE[i % PALETTE.length] },
    text: cs.map((c) => (d.search ? `${esc(c.config)}, n=${c.n}` : `n=${c.n}`)),
    hovertemplate: "%{y:.3f} (%{text})",
    error_y: { type: "data", symmetric: false,
      array: cs.map((c) => (c.n > 1 ? scale(m) * (c.ci_high - c.mean) : 0)),
      arrayminus: cs.map((c) => (c.n > 1 ? scale(m) * (c.mean - c.ci_low) : 0)) } }));
  Plotly.react(node, traces, { ...LAYOUT,
    xaxis: { title: { text: esc(a) }, type: xtype },
    yaxis: { title: { text: `mean ${mname(m)}${unit(m)} (95% CI)` } } }, CONF);
}

// --------------------------------------------------------------------------------- run
async function renderRun() {
  const d = await getJSON(`/api/run?${q(PARAMS)}`);
  const facts = el("table", { id: "facts" }, el("tbody", {},
    ...Object.entries({ ...d.facts, "wall time": duration(d.wall_seconds) }).map(([k, v]) =>
      el("tr", {}, el("th", {}, k), el("td", {}, v === null ? "-" : v)))));
  const ep = el("table", { id: "epochs" }, el("thead", {}, el("tr", {},
    ...["epoch", ...METRICS.map((m) => mname(m) + unit(m)), "seconds"].map((h) =>
      el("th", {}, h)))),
    el("tbody", {}, ...d.epochs.map((e) => el("tr", {}, el("td", { class: "num" }, e.epoch),
      ...METRICS.map((m) => el("td", { class: "num" }, fmt(e[m], m))),
      el("td", { class: "num" }, e.seconds === null ? "-" : e.seconds.toFixed(2))))));
  const main = document.getElementById("main");
  main.replaceChildren(
    el("p", {}, el("a", { href: `/study?${q({ name: d.study })}` }, d.study)),
    el("h1", {}, `${d.config}, seed ${d.seed}`), facts,
    el("h2", {}, "Diagnostics"), el("p", { id: "diagnostics" }, d.diagnostics),
    el("h2", {}, "Per epoch"), ep,
    el("h2", {}, "Confusion matrix (test set, counts)"),
    el("div", { id: "confusion", class: "plot" }));
  const names = d.classes.map(esc);
  Plotly.react("confusion", [{ type: "heatmap", z: d.confusion, x: names, y: names,
    colorscale: [[0, "#f7fbff"], [1, "#08306b"]], hovertemplate: "true %{y}, predicted %{x}: %{z}<extra></extra>" }],
    { ...LAYOUT, height: 460, xaxis: { title: { text: "predicted" }, type: "category" },
      yaxis: { title: { text: "true" }, autorange: "reversed", type: "category" } }, CONF);
}

const RENDER = { studies: renderStudies, study: renderStudy, run: renderRun };
refresh().then(connect);
