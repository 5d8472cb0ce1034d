// Leaderboard app: recomputes task scores, the shared cells, ranks and fronts from the embedded scaled
// metric values whenever a weight or filter changes. Mirrors benchmark/scoring.py (task_scores,
// compare_models) and benchmark/ranking.py (fronts) line for line; a browser test checks that both give
// the same ranks and fronts. Every string from the data is inserted with textContent (never as HTML).
//
// Other sections of the page can draw in the browser too: window.scfmLeaderboard.onRender(fn) calls
// fn(result, state) after every recomputation (result = compute()).
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("benchmark-data").textContent);
  const CELL = "\u0000";
  const SCALED = new Set(["controls", "min-max", "task references"]);  // mirrors scoring.SCALED
  const DEFAULTS = { bio: DATA.scoring.bio_weight, tasks: Object.assign({}, DATA.scoring.task_weights) };
  const state = {
    datasets: new Set(DATA.dataset_ids), tasks: new Set(DATA.task_ids), models: new Set(DATA.model_ids),
    bio: DEFAULTS.bio, weights: Object.assign({}, DEFAULTS.tasks), mode: "scaled",
  };
  const hooks = [];

  // ---------- helpers ----------
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const sd = (xs) => {
    if (xs.length < 2) return 0;
    const m = mean(xs);
    return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
  };
  const isNumber = (x) => x !== null && x !== undefined && !Number.isNaN(x);
  const fmt = (x, digits) => (isNumber(x) ? x.toFixed(digits === undefined ? 3 : digits) : "–");
  const heat = (x) => {
    if (!isNumber(x)) return "background:#eee";
    const c = Math.min(Math.max(x, 0), 1);
    return "background:hsl(" + Math.round(120 * c) + ",60%," + (85 - 10 * c).toFixed(0) + "%)";
  };
  const weightOf = (task) => (task in state.weights ? state.weights[task] : 1.0);
  const isControl = (model) => DATA.models[model].kind === "control";
  const cellKey = (dataset, task) => dataset + CELL + task;
  const datasetOf = (cell) => cell.split(CELL)[0];
  const taskOf = (cell) => cell.split(CELL)[1];
  const subset = (cells, of) => cells.every((c) => of.has(c));
  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (attrs) for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }
  function group(rows, keyFn) {
    const out = new Map();
    for (const row of rows) {
      const key = keyFn(row);
      if (!out.has(key)) out.set(key, []);
      out.get(key).push(row);
    }
    return out;
  }
  const compareArrays = (a, b) => { const x = a.join("\u0001"), y = b.join("\u0001"); return x < y ? -1 : x > y ? 1 : 0; };

  // ---------- task scores (mirrors benchmark/scoring.py: task_scores) ----------
  const counted = (r) => r.scored && SCALED.has(r.scaling) && isNumber(r.scaled);
  const NEEDED = new Map();  // cell -> the metrics it is scored on (over every model and seed)
  for (const r of DATA.scores) {
    const key = cellKey(r.dataset, r.task);
    if (!NEEDED.has(key)) NEEDED.set(key, new Set());
    if (counted(r)) NEEDED.get(key).add(r.metric);
  }
  function combine(kinds) {
    const names = Object.keys(kinds);
    if (!names.length) return null;
    if ("bio" in kinds && "batch" in kinds) return state.bio * kinds.bio + (1 - state.bio) * kinds.batch;
    if ("bio" in kinds) return kinds.bio;
    return mean(names.map((k) => kinds[k]));
  }
  // Per (dataset, task, model, seed) of the ticked datasets, tasks and models.
  function taskTable() {
    const rows = DATA.scores.filter((r) => state.datasets.has(r.dataset) && state.tasks.has(r.task) && state.models.has(r.model));
    const table = [];
    for (const groupRows of group(rows, (r) => [r.dataset, r.task, r.model, r.seed].join(CELL)).values()) {
      const first = groupRows[0];
      const good = groupRows.filter(counted);
      const kinds = {};
      const byKind = group(good, (r) => r.kind);
      for (const kind of [...byKind.keys()].sort()) kinds[kind] = mean(byKind.get(kind).map((r) => r.scaled));
      const okRow = groupRows.find((r) => r.status === "ok");
      const needed = NEEDED.get(cellKey(first.dataset, first.task));
      const have = new Set(good.map((r) => r.metric));
      table.push({
        dataset: first.dataset, task: first.task, model: first.model, seed: first.seed,
        status: okRow ? "ok" : first.status, message: okRow ? "" : first.message,
        complete: needed.size > 0 && have.size === needed.size && [...needed].every((m) => have.has(m)),
        degenerate: (groupRows.find((r) => r.degenerate) || {}).degenerate || "",
        kinds, score: combine(kinds),
      });
    }
    return table;
  }
  const rankable = (r) => r.status === "ok" && r.complete && isNumber(r.score) && (DATA.scoring.keep_degenerate || !r.degenerate);

  // ---------- comparison on the shared cells (mirrors benchmark/scoring.py: compare_models) ----------
  function coverage(tasks) {
    const bySeed = new Map();
    for (const r of tasks) {
      if (!rankable(r) || !(weightOf(r.task) > 0)) continue;
      if (!bySeed.has(r.model)) bySeed.set(r.model, new Map());
      const cells = bySeed.get(r.model), key = cellKey(r.dataset, r.task);
      if (!cells.has(key)) cells.set(key, new Map());
      cells.get(key).set(r.seed, r.score);
    }
    const out = new Map();
    for (const [model, cells] of bySeed) {
      const kept = new Map();
      for (const [cell, perSeed] of cells) if (DATA.seeds.every((s) => perSeed.has(s))) kept.set(cell, DATA.seeds.map((s) => perSeed.get(s)));
      out.set(model, kept);
    }
    return out;
  }
  function sharedCells(covered) {
    const keyOf = (cells) => [...cells].sort().join("\u0001");
    const closure = new Map();
    for (const cells of covered.values()) if (cells.size) closure.set(keyOf(cells), [...cells].sort());
    let frontier = [...closure.values()];
    while (frontier.length) {
      const next = [];
      for (const a of frontier) for (const b of [...closure.values()]) {
        const both = a.filter((c) => b.includes(c));
        const key = both.join("\u0001");
        if (both.length && !closure.has(key)) { closure.set(key, both); next.push(both); }
      }
      frontier = next;
    }
    let best = null, bestOrder = null;
    for (const cells of closure.values()) {
      const models = [...covered.values()].filter((c) => subset(cells, c)).length;
      const order = [-models * cells.length, -cells.length, -models];
      const better = best === null || order[0] < bestOrder[0] || (order[0] === bestOrder[0] && (order[1] < bestOrder[1] ||
        (order[1] === bestOrder[1] && (order[2] < bestOrder[2] || (order[2] === bestOrder[2] && compareArrays(cells, best) < 0)))));
      if (better) { best = cells; bestOrder = order; }
    }
    return best || [];
  }
  function scoreOn(cells, scores) {
    const byDataset = group(cells, datasetOf);
    return DATA.seeds.map((_, seed) => {
      const perDataset = [];
      for (const datasetCells of byDataset.values()) {
        let numerator = 0, denominator = 0;
        for (const cell of datasetCells) {
          const weight = weightOf(taskOf(cell));
          numerator += weight * scores.get(cell)[seed];
          denominator += weight;
        }
        perDataset.push(numerator / denominator);
      }
      return mean(perDataset);
    });
  }
  const ranksOf = (scores) => new Map([...scores].map(([m, s]) => [m, 1 + [...scores.values()].filter((o) => o > s).length]));
  function compare(tasks) {
    const covered = coverage(tasks);
    const models = DATA.model_ids.filter((m) => state.models.has(m));
    const own = new Map(models.map((m) => [m, new Set(covered.has(m) ? covered.get(m).keys() : [])]));
    const candidates = new Map(models.filter((m) => !isControl(m)).map((m) => [m, own.get(m)]));
    const shared = sharedCells(candidates);
    const ranked = models.filter((m) => !isControl(m) && shared.length && subset(shared, own.get(m)));
    const stats = (model, cells) => { const perSeed = scoreOn(cells, covered.get(model)); return { score: mean(perSeed), sd: sd(perSeed), perSeed }; };
    const rankOf = ranksOf(new Map(ranked.map((m) => [m, stats(m, shared).score])));
    const rows = models.map((model) => {
      const control = isControl(model), mine = own.get(model);
      const inShared = shared.length > 0 && subset(shared, mine);
      const cells = ranked.includes(model) || (control && inShared) ? shared : [...mine].sort();
      const row = { model, group: control ? "control" : ranked.includes(model) ? "ranked" : "apart", cells, score: null, sd: null,
                    rank: null, rankOf: null, controlsAbove: [], front: null };
      if (cells.length) {
        const s = stats(model, cells);
        row.score = s.score; row.sd = s.sd;
        if (!control) {
          const peers = models.filter((m) => !isControl(m) && subset(cells, own.get(m)));
          const ranks = ranked.includes(model) ? rankOf : ranksOf(new Map(peers.map((m) => [m, stats(m, cells).score])));
          row.rank = ranks.get(model); row.rankOf = peers.length;
          row.controlsAbove = models.filter((c) => isControl(c) && subset(cells, own.get(c)) && stats(c, cells).score > row.score);
        }
      }
      return row;
    });
    const objectives = new Map();
    const taskIds = DATA.task_ids.filter((t) => shared.some((c) => taskOf(c) === t));
    for (const model of ranked) objectives.set(model, taskIds.map((t) => mean(shared.filter((c) => taskOf(c) === t).map((c) => mean(covered.get(model).get(c))))));
    const front = fronts(objectives);
    for (const row of rows) row.front = front.has(row.model) ? front.get(row.model) : null;
    const inPlay = new Set([...candidates.values()].flatMap((c) => [...c]));
    return { shared, ranked, rows, covered, own, inPlay, tasks };
  }

  // ---------- fronts (mirrors benchmark/ranking.py) ----------
  function epsilonDominates(p, q) {
    let strictly = false;
    for (let i = 0; i < p.length; i++) {
      if (p[i] < q[i] - DATA.epsilon) return false;
      if (p[i] > q[i]) strictly = true;
    }
    return strictly;
  }
  // Models in one strongly connected component of the domination graph tie; fronts layer the components.
  function fronts(objectives) {
    const models = [...objectives.keys()], n = models.length;
    const edges = models.map((a) => models.map((b, j) => j).filter((j) => models[j] !== a && epsilonDominates(objectives.get(a), objectives.get(models[j]))));
    const index = new Array(n).fill(-1), low = new Array(n).fill(0), onStack = new Array(n).fill(false), component = new Array(n).fill(-1);
    const stack = [];
    let counter = 0, components = 0;
    function strongConnect(v) {  // Tarjan's algorithm
      index[v] = low[v] = counter++;
      stack.push(v); onStack[v] = true;
      for (const w of edges[v]) {
        if (index[w] === -1) { strongConnect(w); low[v] = Math.min(low[v], low[w]); }
        else if (onStack[w]) low[v] = Math.min(low[v], index[w]);
      }
      if (low[v] === index[v]) {
        let w;
        do { w = stack.pop(); onStack[w] = false; component[w] = components; } while (w !== v);
        components += 1;
      }
    }
    for (let v = 0; v < n; v++) if (index[v] === -1) strongConnect(v);
    const incoming = new Array(components).fill(0), out = [...Array(components)].map(() => new Set());
    for (let v = 0; v < n; v++) for (const w of edges[v]) {
      if (component[v] !== component[w] && !out[component[v]].has(component[w])) { out[component[v]].add(component[w]); incoming[component[w]] += 1; }
    }
    const level = new Array(components).fill(0);
    let current = [...Array(components).keys()].filter((c) => incoming[c] === 0), depth = 1;
    while (current.length) {
      const next = [];
      for (const c of current) { level[c] = depth; for (const d of out[c]) { incoming[d] -= 1; if (incoming[d] === 0) next.push(d); } }
      current = next; depth += 1;
    }
    return new Map(models.map((m, v) => [m, level[component[v]]]));
  }

  function compute() { return compare(taskTable()); }

  // ---------- rendering helpers ----------
  const name = (model) => DATA.models[model].name;
  function modelCell(model, tag) {
    const info = DATA.models[model];
    const cell = el(tag || "td", null, { class: "name sticky", title: info.summary });
    cell.append(document.createTextNode(info.name + " "), el("span", "(" + model + ")", { class: "kind" }));
    if (info.origin) cell.append(el("span", info.origin, { class: "origin" }));
    return cell;
  }
  function numberCell(value, digits, colour, extra) {
    const td = el("td", fmt(value, digits), { "data-sort": isNumber(value) ? String(value) : "" });
    if (colour) td.setAttribute("style", heat(value));
    if (extra) for (const [k, v] of Object.entries(extra)) td.setAttribute(k, v);
    return td;
  }
  function header(table, labels) {
    const tr = el("tr");
    labels.forEach(([label, cls, title], i) => {
      const th = el("th", label, cls ? { class: cls } : null);
      if (title) th.setAttribute("title", title);
      if (i === 0) th.classList.add("sticky");
      tr.append(th);
    });
    if (!table.tHead) table.append(el("thead"));
    table.tHead.replaceChildren(tr);
  }
  // Model order of every table: the ranked models by rank, then those apart, then the controls.
  function modelGroups(result) {
    const byGroup = (g) => result.rows.filter((r) => r.group === g).sort((a, b) =>
      (a.rank === null) - (b.rank === null) || (a.rank - b.rank) || ((b.score ?? -Infinity) - (a.score ?? -Infinity)) || a.model.localeCompare(b.model));
    return [["ranked", byGroup("ranked")], ["apart", byGroup("apart")], ["control", byGroup("control")]];
  }
  const GROUP_TITLES = {
    ranked: (n, k) => "Ranked: " + n + " model(s) on the " + k + " shared cell(s)",
    apart: () => "Not ranked with the above: they lack some shared cells; score and rank on their own cells",
    control: () => "Controls: reference rows, not ranked",
  };
  // Tables with one <tbody> per group (ranked, apart, controls), each with a heading row; sorting stays inside a group.
  function groupedBodies(table, result, width, fill, order) {
    for (const body of [...table.tBodies]) body.remove();
    for (const [groupName, unordered] of modelGroups(result)) {
      const rows = order ? [...unordered].sort(order) : unordered;
      if (!rows.length) continue;
      const body = el("tbody", null, { class: groupName === "control" ? "controls" : groupName });
      const head = el("tr", null, { class: "group-head" });
      const title = el("td", null, { colspan: String(width) });
      title.append(el("span", GROUP_TITLES[groupName](result.ranked.length, result.shared.length)));
      head.append(title);
      body.append(head);
      for (const row of rows) body.append(fill(row));
      table.append(body);
    }
  }
  function statusOf(tasks, dataset, model, task) {
    const rows = tasks.filter((r) => r.dataset === dataset && r.model === model && (task === undefined || r.task === task));
    if (!rows.length) return { text: "–", cls: "", title: "no job" };
    const ok = rows.filter((r) => r.status === "ok");
    if (!ok.length) return { text: rows[0].status.replace("_", " "), cls: "status-" + rows[0].status, title: rows[0].message };
    const degenerate = ok.find((r) => r.degenerate && !DATA.scoring.keep_degenerate);
    if (degenerate) return { text: "degenerate", cls: "flag", title: "degenerate embedding, not ranked: " + degenerate.degenerate };
    const incomplete = ok.find((r) => !r.complete);
    if (incomplete) return { text: "incomplete", cls: "flag", title: "a metric of this task failed or gave no value: shown in the heatmap, not ranked" };
    return null;
  }
  const cellLabel = (c) => datasetOf(c) + " · " + taskOf(c);

  // ---------- sections ----------
  function renderRanking(result) {
    const table = document.getElementById("ranking");
    const datasets = DATA.dataset_ids.filter((d) => state.datasets.has(d));
    const defaults = isDefault();
    const oneSeed = DATA.seeds.length < 2;
    document.getElementById("ranking-cells").textContent = result.shared.length
      ? "Shared cells (" + result.shared.length + " of " + result.inPlay.size + " with a score): " + result.shared.map(cellLabel).join(", ") + "."
      : "No (dataset, task) cell has a rankable score for any model: nothing is ranked.";
    const labels = [["model", "name"], ["rank", "", "ranked models: rank on the shared cells; models apart: rank on their own cells among the models that have them"],
      ["score", "", "mean over datasets of the task-weighted cell scores (scaled, 0 = negative control, 1 = positive control); ± sd over seeds"],
      ["front", "", "ε-non-dominated front on the task scores (1 = dominated by no model outside its tie); ranked models only"],
      ["rank interval", "", "95% bootstrap interval of the rank over seeds, at the default weights and filters"],
      ["coverage", "", "cells (dataset · task) the score is over, of the cells with any score"],
      ["controls above", "", "controls that score higher on the same cells"],
      ...datasets.map((d) => [d, "", "the model's score on this dataset's cells (grey italics: not part of the comparison)"])];
    header(table, labels);
    groupedBodies(table, result, labels.length, (row) => {
      const tr = el("tr", null, { "data-model": row.model, "data-group": row.group, "data-rank": row.rank === null ? "" : String(row.rank),
                                  "data-front": row.front === null ? "" : String(row.front), "data-score": isNumber(row.score) ? String(row.score) : "" });
      tr.append(modelCell(row.model));
      const rankText = row.rank === null ? "–" : row.group === "ranked" ? String(row.rank) : row.rank + " of " + row.rankOf + " on its cells";
      tr.append(el("td", rankText, { "data-sort": row.rank === null ? "" : String(row.rank), title: row.group === "apart" && row.rank !== null
        ? "rank among the " + row.rankOf + " models that have all of its cells" : row.group === "control" ? "controls are not ranked" : "" }));
      const score = numberCell(row.score, 3, true, { title: row.cells.length ? "over " + row.cells.map(cellLabel).join(", ") : "no rankable score" });
      if (DATA.seeds.length > 1 && isNumber(row.score)) score.append(el("span", " ± " + fmt(row.sd), { class: "sd" }));
      tr.append(score);
      tr.append(el("td", row.front === null ? "–" : String(row.front), { title: row.group === "ranked" ? "" : "fronts compare the ranked models only" }));
      const interval = DATA.rank_intervals[row.model];
      const intervalText = row.group !== "ranked" ? "–" : oneSeed ? "one seed: no interval" : defaults && interval ? interval[0] + "–" + interval[1] : "default weights only";
      tr.append(el("td", intervalText));
      tr.append(el("td", row.cells.length + "/" + result.inPlay.size, { title: row.cells.length ? row.cells.map(cellLabel).join(", ") : "no cell with a rankable score" }));
      tr.append(el("td", row.controlsAbove.map(name).join(", ") || (row.group === "control" ? "–" : "none"), { class: "name" }));
      for (const d of datasets) {
        const mine = [...result.own.get(row.model)].filter((c) => datasetOf(c) === d).sort();
        const sharedHere = result.shared.filter((c) => datasetOf(c) === d);
        if (!mine.length) {
          const status = statusOf(result.tasks, d, row.model) || { text: "–", cls: "", title: "no rankable score" };
          tr.append(el("td", status.text, { class: status.cls, title: status.title }));
          continue;
        }
        const inComparison = row.cells === result.shared && sharedHere.length > 0;
        const cells = inComparison ? sharedHere : mine;
        const value = mean(scoreOn(cells, result.covered.get(row.model)));
        tr.append(numberCell(value, 3, inComparison, inComparison ? { title: cells.map(cellLabel).join(", ") }
          : { class: "outside", title: "not part of the overall comparison: " + cells.map(cellLabel).join(", ") }));
      }
      return tr;
    });
  }

  function renderSummary(result) {
    const table = document.getElementById("summary-figure");
    if (!table) return;
    const cells = result.shared.filter((c) => taskOf(c) === "integration");
    const labels = [["model", "name"], ["Bio conservation", "barcell", "mean of the bio metrics (scaled), over the shared integration datasets"],
      ["Batch correction", "barcell", "mean of the batch metrics (scaled), over the shared integration datasets that have batches"],
      ["Total", "barcell", "the integration score: bio weight × bio + (1 − bio weight) × batch"]];
    header(table, labels);
    const rowsOf = group(result.tasks.filter((r) => r.task === "integration" && rankable(r)), (r) => r.model + CELL + r.dataset);
    const view = { ...result, rows: result.rows.filter((r) => (r.group === "ranked" || (r.group === "control" && r.cells === result.shared)) && cells.length) };
    const summaryOf = (model) => {
      const perDataset = cells.map((c) => rowsOf.get(model + CELL + datasetOf(c)) || []);
      const kindMean = (kind) => mean(perDataset.map((rs) => mean(rs.map((r) => r.kinds[kind]).filter(isNumber))).filter(isNumber));
      return [kindMean("bio"), kindMean("batch"), mean(perDataset.map((rs) => mean(rs.map((r) => r.score))).filter(isNumber))];
    };
    const totals = new Map(view.rows.map((r) => [r.model, summaryOf(r.model)]));
    const byTotal = (a, b) => (totals.get(b.model)[2] ?? -Infinity) - (totals.get(a.model)[2] ?? -Infinity);
    groupedBodies(table, view, labels.length, (row) => {
      const tr = el("tr", null, { "data-model": row.model });
      tr.append(modelCell(row.model));
      for (const value of totals.get(row.model)) {
        const td = el("td", fmt(value), { class: "barcell", "data-sort": isNumber(value) ? String(value) : "" });
        const track = el("span", null, { class: "track" });
        const fill = el("span", null, { class: "fill" });
        fill.setAttribute("style", heat(value) + ";width:" + (isNumber(value) ? Math.round(100 * Math.min(Math.max(value, 0), 1)) : 0) + "%");
        track.append(fill); td.append(track); tr.append(td);
      }
      return tr;
    }, byTotal);
    if (!cells.length) table.append(el("caption", "No integration cell is shared by the ranked models.", { class: "sub" }));
  }

  function renderTasks(result) {
    const holder = document.getElementById("task-tables");
    holder.replaceChildren();
    const raw = state.mode === "raw";
    const datasets = DATA.dataset_ids.filter((d) => state.datasets.has(d));
    for (const task of DATA.task_ids.filter((t) => state.tasks.has(t))) {
      holder.append(el("h3", task + (raw ? " (raw metric values)" : " (scaled task score)")));
      const table = el("table", null, { class: "sortable", id: "task-" + task });
      let columns;
      if (raw) {
        const metrics = DATA.metric_ids.filter((m) => DATA.metrics[m].task === task);
        columns = datasets.flatMap((d) => metrics.filter((m) => DATA.scores.some((r) => r.dataset === d && r.metric === m)).map((m) => [d, m]));
        header(table, [["model", "name"], ...columns.map(([d, m]) => [d + " · " + DATA.metrics[m].label + (DATA.metrics[m].higher_is_better ? " ↑" : " ↓"), "", DATA.metrics[m].description])]);
      } else {
        header(table, [["model", "name"], ...datasets.map((d) => [d])]);
      }
      groupedBodies(table, result, 1 + (raw ? columns.length : datasets.length), (row) => {
        const tr = el("tr", null, { "data-model": row.model });
        tr.append(modelCell(row.model));
        if (raw) {
          for (const [d, m] of columns) {
            const ok = DATA.scores.filter((r) => r.dataset === d && r.model === row.model && r.metric === m && r.status === "ok" && isNumber(r.value));
            tr.append(ok.length ? numberCell(mean(ok.map((r) => r.value)), 3, false) : el("td", "–"));
          }
          return tr;
        }
        for (const d of datasets) {
          const rows = result.tasks.filter((r) => r.task === task && r.dataset === d && r.model === row.model);
          const status = statusOf(result.tasks, d, row.model, task);
          const values = rows.filter((r) => r.status === "ok" && isNumber(r.score)).map((r) => r.score);
          if (status && (!values.length || status.cls !== "flag")) { tr.append(el("td", status.text, { class: status.cls, title: status.title })); continue; }
          const td = numberCell(mean(values), 3, !status, status ? { class: "flag", title: status.title } : null);
          if (status) td.textContent = fmt(mean(values)) + " (" + status.text + ")";
          tr.append(td);
        }
        return tr;
      });
      const box = el("div", null, { class: "scroll" });
      box.append(table);
      holder.append(box);
    }
  }

  function renderDatasets(result) {
    const raw = state.mode === "raw";
    for (const holder of document.querySelectorAll(".dataset-tables")) {
      const dataset = holder.dataset.dataset;
      holder.replaceChildren();
      if (!state.datasets.has(dataset)) { holder.append(el("p", "(filtered out)", { class: "sub" })); continue; }
      const taskIds = DATA.task_ids.filter((t) => state.tasks.has(t));
      const summary = el("table", null, { class: "sortable" });
      const kinds = ["bio", "batch"];
      const highlights = DATA.highlights.map((h) => [DATA.metrics[h].label + " (raw " + (DATA.metrics[h].higher_is_better ? "↑" : "↓") + ")", "", DATA.metrics[h].description]);
      const labels = raw ? [["model", "name"], ...highlights]
        : [["model", "name"], ["score", "", "task-weighted mean of the dataset's cells (grey italics: not all of the cells other models have)"],
           ...taskIds.map((t) => [t]), ...kinds.map((k) => [k, "", "mean of the integration task's " + k + " metrics (scaled)"]), ...highlights];
      header(summary, labels);
      const tasksHere = new Set([...result.inPlay].filter((c) => datasetOf(c) === dataset));
      groupedBodies(summary, result, labels.length, (row) => {
        const tr = el("tr", null, { "data-model": row.model });
        tr.append(modelCell(row.model));
        if (!raw) {
          const mine = [...result.own.get(row.model)].filter((c) => datasetOf(c) === dataset).sort();
          const status = statusOf(result.tasks, dataset, row.model);
          if (!mine.length) tr.append(el("td", status ? status.text : "–", status ? { class: status.cls, title: status.title } : null));
          else {
            const complete = [...tasksHere].every((c) => mine.includes(c));
            tr.append(numberCell(mean(scoreOn(mine, result.covered.get(row.model))), 3, complete,
              complete ? null : { class: "outside", title: "over " + mine.map(cellLabel).join(", ") + " only" }));
          }
          const own = result.tasks.filter((r) => r.dataset === dataset && r.model === row.model && r.status === "ok");
          for (const t of taskIds) {
            const values = own.filter((r) => r.task === t && isNumber(r.score)).map((r) => r.score);
            const flag = statusOf(result.tasks, dataset, row.model, t);
            if (flag && !values.length) { tr.append(el("td", flag.text, { class: flag.cls, title: flag.title })); continue; }
            tr.append(numberCell(mean(values), 3, !flag, flag ? { class: flag.cls, title: flag.title } : null));
          }
          for (const k of kinds) tr.append(numberCell(mean(own.filter((r) => r.task === "integration" && isNumber(r.kinds[k])).map((r) => r.kinds[k])), 3, false));
        }
        for (const h of DATA.highlights) {
          const values = DATA.scores.filter((r) => r.dataset === dataset && r.model === row.model && r.metric === h && r.status === "ok" && isNumber(r.value)).map((r) => r.value);
          tr.append(numberCell(mean(values), 3, false));
        }
        return tr;
      });
      const box = el("div", null, { class: "scroll" });
      box.append(summary);
      holder.append(box, heatmap(dataset, raw, result));
    }
  }

  function heatmap(dataset, raw, result) {
    const details = el("details", null, { open: "" });
    details.append(el("summary", "Metrics heatmap (" + (raw ? "raw values" : "scaled; raw value on hover") + ")"));
    const rows = DATA.scores.filter((r) => r.dataset === dataset && state.tasks.has(r.task) && state.models.has(r.model));
    const metrics = DATA.metric_ids.filter((m) => rows.some((r) => r.metric === m));
    const table = el("table", null, { class: "sortable heatmap" });
    const tr = el("tr");
    tr.append(el("th", "model", { class: "name sticky" }));
    for (const m of metrics) {
      const th = el("th", DATA.metrics[m].label, { title: DATA.metrics[m].description });
      th.append(el("br"), el("span", DATA.metrics[m].kind + (DATA.metrics[m].higher_is_better ? " ↑" : " ↓"), { class: "kind" }));
      tr.append(th);
    }
    table.append(el("thead"));
    table.tHead.append(tr);
    const cells = group(rows, (r) => r.model + CELL + r.metric);
    groupedBodies(table, result, 1 + metrics.length, (row) => {
      const line = el("tr", null, { "data-model": row.model });
      line.append(modelCell(row.model));
      for (const m of metrics) {
        const found = cells.get(row.model + CELL + m) || [];
        const ok = found.filter((r) => r.status === "ok");
        if (!ok.length) {
          const first = found[0];
          line.append(first ? el("td", "n/a", { class: "status-" + first.status, title: first.message }) : el("td", "–"));
          continue;
        }
        const rawValue = mean(ok.map((r) => r.value).filter(isNumber));
        const scaled = ok.map((r) => r.scaled).filter(isNumber);
        if (!raw && !scaled.length) {
          line.append(el("td", "–", { title: "raw " + fmt(rawValue, 4) + " · not scored: " + (ok[0].scaling === "constant" ? "fewer than two distinct values" : "no value") }));
          continue;
        }
        const td = numberCell(raw ? rawValue : mean(scaled), raw ? 3 : 2, !raw);
        td.setAttribute("title", "raw " + fmt(rawValue, 4) + " · " + ok[0].scaling + (ok[0].degenerate ? " · degenerate embedding: " + ok[0].degenerate : ""));
        line.append(td);
      }
      return line;
    });
    const box = el("div", null, { class: "scroll" });
    box.append(table);
    details.append(box);
    return details;
  }

  function isDefault() {
    return state.bio === DEFAULTS.bio && DATA.task_ids.every((t) => weightOf(t) === (DEFAULTS.tasks[t] ?? 1.0)) &&
      state.datasets.size === DATA.dataset_ids.length && state.tasks.size === DATA.task_ids.length && state.models.size === DATA.model_ids.length;
  }

  function render() {
    const result = compute();
    renderSummary(result);
    renderRanking(result);
    renderTasks(result);
    renderDatasets(result);
    makeSortable();
    for (const hook of hooks) hook(result, state);
  }

  // ---------- controls ----------
  function checkbox(holder, kind, id, label) {
    const wrap = el("label");
    const box = el("input", null, { type: "checkbox", "data-filter": kind, value: id });
    box.checked = true;
    box.addEventListener("change", () => { (box.checked ? state[kind].add(id) : state[kind].delete(id)); render(); });
    wrap.append(box, document.createTextNode(" " + label));
    holder.append(wrap);
    return wrap;
  }
  // A weight field: a valid value updates the state; an invalid one is marked, with the reason, and ignored.
  function weightField(input, check, apply) {
    const message = el("span", null, { class: "field-error", role: "alert" });
    input.after(message);
    input.addEventListener("input", () => {
      const text = input.value.trim(), w = Number(text);
      const problem = text === "" ? "enter a number" : Number.isNaN(w) ? "not a number" : check(w);
      input.classList.toggle("invalid", Boolean(problem));
      input.setAttribute("aria-invalid", problem ? "true" : "false");
      message.textContent = problem ? problem + " (ignored until fixed)" : "";
      if (!problem) { apply(w); render(); }
    });
    return message;
  }
  function clearErrors() {
    for (const input of document.querySelectorAll("#controls input.invalid")) { input.classList.remove("invalid"); input.setAttribute("aria-invalid", "false"); }
    for (const message of document.querySelectorAll("#controls .field-error")) message.textContent = "";
  }
  function buildControls() {
    const datasets = document.getElementById("filter-datasets");
    for (const d of DATA.dataset_ids) checkbox(datasets, "datasets", d, d);
    const tasks = document.getElementById("filter-tasks");
    for (const t of DATA.task_ids) {
      const wrap = checkbox(tasks, "tasks", t, t);
      const weight = el("input", null, { type: "number", min: "0", step: "0.5", "data-task-weight": t, title: "weight of " + t + " (≥ 0)" });
      weight.value = String(weightOf(t));
      wrap.append(document.createTextNode(" weight "), weight);
      weightField(weight, (w) => (w < 0 ? "a weight must be 0 or more" : ""), (w) => { state.weights[t] = w; });
    }
    const models = document.getElementById("filter-models");
    for (const m of DATA.model_ids) checkbox(models, "models", m, name(m) + (isControl(m) ? " (control)" : ""));
    const bio = document.getElementById("bio-weight");
    bio.value = String(state.bio);
    weightField(bio, (w) => (w < 0 || w > 1 ? "the bio weight must be between 0 and 1" : ""), (w) => { state.bio = w; });
    for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", () => { state.mode = radio.value; render(); });
    document.getElementById("download-csv").addEventListener("click", downloadCsv);
    document.getElementById("download-json").addEventListener("click", downloadJson);
    document.getElementById("reset").addEventListener("click", () => {
      state.bio = DEFAULTS.bio; state.weights = Object.assign({}, DEFAULTS.tasks); state.mode = "scaled";
      for (const key of ["datasets", "tasks", "models"]) state[key] = new Set(DATA[key.slice(0, -1) + "_ids"]);
      for (const box of document.querySelectorAll("input[data-filter]")) box.checked = true;
      for (const w of document.querySelectorAll("input[data-task-weight]")) w.value = String(weightOf(w.dataset.taskWeight));
      bio.value = String(state.bio);
      clearErrors();
      document.getElementById("mode-scaled").checked = true;
      render();
    });
  }

  // ---------- downloads ----------
  function save(text, filename, type) {
    const link = el("a", null, { href: URL.createObjectURL(new Blob([text], { type: type })), download: filename });
    document.body.append(link);
    link.click();
    link.remove();
  }
  function csvField(value) {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function downloadCsv() {
    const columns = ["dataset", "task", "model", "seed", "metric", "kind", "value", "scaled", "scaling", "status", "message", "degenerate"];
    const rows = DATA.scores.filter((r) => state.datasets.has(r.dataset) && state.tasks.has(r.task) && state.models.has(r.model));
    const lines = [columns.join(",")].concat(rows.map((r) => columns.map((c) => csvField(r[c])).join(",")));
    save(lines.join("\n") + "\n", DATA.run + "-scores.csv", "text/csv");
  }
  function downloadJson() {
    const result = compute();
    const payload = { run: DATA.run, weights: { bio: state.bio, tasks: state.weights },
                      filters: { datasets: [...state.datasets], tasks: [...state.tasks], models: [...state.models] },
                      shared_cells: result.shared.map((c) => c.replace(CELL, "/")),
                      ranking: result.rows.map((r) => ({ ...r, cells: r.cells.map((c) => c.replace(CELL, "/")) })), scores: DATA.scores };
    save(JSON.stringify(payload, null, 2), DATA.run + "-leaderboard.json", "application/json");
  }

  // ---------- sortable tables (rows stay inside their group) ----------
  function makeSortable() {
    for (const table of document.querySelectorAll("table.sortable")) {
      if (table.dataset.sortable) continue;
      table.dataset.sortable = "1";
      table.addEventListener("click", (event) => {
        const th = event.target.closest("thead th");
        if (!th) return;
        const column = [...th.parentNode.children].indexOf(th);
        const descending = th.dataset.dir !== "desc";
        th.dataset.dir = descending ? "desc" : "asc";
        const key = (row) => {
          const cell = row.cells[column];
          if (!cell) return "";
          const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
          const number = parseFloat(raw);
          return Number.isNaN(number) ? raw.toLowerCase() : number;
        };
        for (const body of table.tBodies) {
          const rows = [...body.rows].filter((r) => !r.classList.contains("group-head"));
          rows.sort((a, b) => {
            const x = key(a), y = key(b);
            if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
            return (x < y ? -1 : x > y ? 1 : 0) * (descending ? -1 : 1);
          });
          for (const row of rows) body.append(row);
        }
      });
    }
  }

  window.scfmLeaderboard = {
    data: DATA, state, compute, fronts: (objectives) => Object.fromEntries(fronts(new Map(Object.entries(objectives)))),
    render, onRender: (fn) => { hooks.push(fn); fn(compute(), state); },
  };
  buildControls();
  render();
})();
