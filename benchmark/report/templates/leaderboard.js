// Leaderboard app: recomputes task, dataset and overall scores, ranks and fronts from the embedded
// scaled metric values whenever a weight or filter changes. Mirrors benchmark/scoring.py and
// benchmark/ranking.py. Every string from the data is inserted with textContent (never as HTML).
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("benchmark-data").textContent);
  const DEFAULTS = { bio: DATA.scoring.bio_weight, tasks: Object.assign({}, DATA.scoring.task_weights) };
  const state = {
    datasets: new Set(DATA.dataset_ids), tasks: new Set(DATA.task_ids), models: new Set(DATA.model_ids),
    bio: DEFAULTS.bio, weights: Object.assign({}, DEFAULTS.tasks), mode: "scaled",
  };

  // ---------- helpers ----------
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const sd = (xs) => {
    if (xs.length < 2) return 0;
    const m = mean(xs);
    return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
  };
  const fmt = (x, digits) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits === undefined ? 3 : digits));
  const heat = (x) => {
    if (x === null || x === undefined || Number.isNaN(x)) return "background:#eee";
    const c = Math.min(Math.max(x, 0), 1);
    return "background:hsl(" + Math.round(120 * c) + ",60%," + (85 - 10 * c).toFixed(0) + "%)";
  };
  const weightOf = (task) => (task in state.weights ? state.weights[task] : 1.0);
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

  // ---------- scoring (mirrors benchmark/scoring.py) ----------
  function combine(kindMeans) {
    if (kindMeans.bio !== undefined && kindMeans.batch !== undefined) return state.bio * kindMeans.bio + (1 - state.bio) * kindMeans.batch;
    if (kindMeans.bio !== undefined) return kindMeans.bio;
    const values = Object.values(kindMeans);
    return values.length ? mean(values) : null;
  }
  function taskScore(rows, field) {
    const kinds = {};
    for (const [kind, kindRows] of group(rows, (r) => r.kind)) kinds[kind] = mean(kindRows.map((r) => r[field]));
    return { score: combine(kinds), kinds: kinds };
  }
  // Per (dataset, task, model, seed) task scores from ok, scored metric rows.
  function taskTable() {
    const usable = DATA.scores.filter((r) => r.status === "ok" && r.scored && r.scaled !== null &&
      state.datasets.has(r.dataset) && state.tasks.has(r.task) && state.models.has(r.model));
    const table = [];
    for (const [key, rows] of group(usable, (r) => [r.dataset, r.task, r.model, r.seed].join("\u0000"))) {
      const [dataset, task, model, seed] = key.split("\u0000");
      const scaled = taskScore(rows, "scaled"), raw = taskScore(rows, "value");
      table.push({ dataset, task, model, seed, score: scaled.score, kinds: scaled.kinds, raw: raw.score, rawKinds: raw.kinds });
    }
    return table;
  }
  function datasetScores(tasks) {
    const out = [];
    for (const [key, rows] of group(tasks, (r) => [r.model, r.seed, r.dataset].join("\u0000"))) {
      const [model, seed, dataset] = key.split("\u0000");
      let num = 0, den = 0;
      for (const r of rows) if (r.score !== null) { num += weightOf(r.task) * r.score; den += weightOf(r.task); }
      if (den > 0) out.push({ model, seed, dataset, score: num / den });
    }
    return out;
  }
  function ranking(tasks) {
    const perDataset = datasetScores(tasks);
    const perSeed = [];
    for (const [key, rows] of group(perDataset, (r) => r.model + "\u0000" + r.seed)) {
      const [model, seed] = key.split("\u0000");
      perSeed.push({ model, seed, score: mean(rows.map((r) => r.score)), n: rows.length });
    }
    const byModel = group(perSeed, (r) => r.model);
    const rows = DATA.model_ids.filter((m) => state.models.has(m)).map((model) => {
      const seeds = byModel.get(model) || [];
      const scores = seeds.map((r) => r.score);
      return { model, score: scores.length ? mean(scores) : null, sd: sd(scores), nSeeds: scores.length,
               nDatasets: seeds.length ? Math.max(...seeds.map((r) => r.n)) : 0 };
    });
    const ranked = rows.filter((r) => r.score !== null).sort((a, b) => b.score - a.score);
    for (const row of rows) row.rank = row.score === null ? null : 1 + ranked.filter((o) => o.score > row.score).length;
    const objectives = overallObjectives(tasks);
    const front = fronts(objectives);
    for (const row of rows) row.front = front.get(row.model) || null;
    rows.sort((a, b) => (a.rank === null) - (b.rank === null) || (a.rank - b.rank) || a.model.localeCompare(b.model));
    const perDatasetMean = new Map();
    for (const [key, rs] of group(perDataset, (r) => r.model + "\u0000" + r.dataset)) perDatasetMean.set(key, mean(rs.map((r) => r.score)));
    return { rows, perDatasetMean };
  }

  // ---------- fronts (mirrors benchmark/ranking.py) ----------
  function dominatesRaw(p, q) {
    let strictly = false;
    for (let i = 0; i < p.length; i++) {
      if (p[i] < q[i] - DATA.epsilon) return false;
      if (p[i] > q[i]) strictly = true;
    }
    return strictly;
  }
  const dominates = (p, q) => dominatesRaw(p, q) && !dominatesRaw(q, p);
  function fronts(objectives) {
    const models = [...objectives.keys()];
    const beats = models.map(() => []), count = models.map(() => 0), front = new Map();
    models.forEach((a, i) => models.forEach((b, j) => {
      if (i !== j && dominates(objectives.get(a), objectives.get(b))) { beats[i].push(j); count[j] += 1; }
    }));
    let current = models.map((_, i) => i).filter((i) => count[i] === 0), level = 1;
    while (current.length) {
      const next = [];
      for (const i of current) {
        front.set(models[i], level);
        for (const j of beats[i]) { count[j] -= 1; if (count[j] === 0) next.push(j); }
      }
      current = next; level += 1;
    }
    return front;
  }
  function overallObjectives(tasks) {
    const taskIds = DATA.task_ids.filter((t) => state.tasks.has(t) && weightOf(t) > 0);
    const out = new Map();
    for (const [model, rows] of group(tasks.filter((r) => r.score !== null), (r) => r.model)) {
      const vector = taskIds.map((t) => mean(rows.filter((r) => r.task === t).map((r) => r.score)));
      if (vector.every((x) => x !== null)) out.set(model, vector);
    }
    return out;
  }

  // ---------- rendering ----------
  const name = (model) => DATA.models[model].name;
  function modelCell(model) {
    const td = el("td", null, { class: "name", title: DATA.models[model].summary });
    td.append(document.createTextNode(name(model) + " "), el("span", "(" + model + ")", { class: "kind" }));
    return td;
  }
  function numberCell(value, digits, colour) {
    const td = el("td", fmt(value, digits), { "data-sort": value === null || value === undefined ? "" : String(value) });
    if (colour) td.setAttribute("style", heat(value));
    return td;
  }
  function statusCell(dataset, model) {
    const info = DATA.status[dataset + "\u0000" + model];
    if (!info || info.status === "ok") return null;
    return el("td", info.status.replace("_", " "), { class: "status-" + info.status, title: info.message });
  }
  function header(table, labels) {
    const tr = el("tr");
    for (const [label, cls] of labels) tr.append(el("th", label, cls ? { class: cls } : null));
    table.tHead.replaceChildren(tr);
  }

  function renderRanking(result) {
    const table = document.getElementById("ranking");
    const datasets = DATA.dataset_ids.filter((d) => state.datasets.has(d));
    const defaults = isDefault();
    header(table, [["rank"], ["model", "name"], ["kind", "name"], ["score"], ["front"], ["rank interval"], ["datasets"],
      ...datasets.map((d) => [d])]);
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const row of result.rows) {
      const tr = el("tr", null, { "data-model": row.model });
      if (DATA.models[row.model].kind === "control") tr.className = "control-row";
      tr.append(el("td", row.rank === null ? "–" : String(row.rank), { "data-sort": row.rank === null ? "" : String(row.rank) }));
      tr.append(modelCell(row.model), el("td", DATA.models[row.model].kind, { class: "name" }));
      const score = numberCell(row.score, 3, true);
      if (row.nSeeds > 1) score.append(el("span", " ± " + fmt(row.sd), { class: "sd" }));
      tr.append(score, el("td", row.front === null ? "–" : String(row.front)));
      const interval = DATA.rank_intervals[row.model];
      tr.append(el("td", defaults && interval ? interval[0] + "–" + interval[1] : "–"));
      tr.append(el("td", row.nDatasets + "/" + datasets.length));
      for (const d of datasets) {
        const status = statusCell(d, row.model);
        tr.append(status || numberCell(result.perDatasetMean.get(row.model + "\u0000" + d) ?? null, 3, true));
      }
      body.append(tr);
    }
  }

  function renderTasks(tasks) {
    const holder = document.getElementById("task-tables");
    holder.replaceChildren();
    const raw = state.mode === "raw";
    const datasets = DATA.dataset_ids.filter((d) => state.datasets.has(d));
    for (const task of DATA.task_ids.filter((t) => state.tasks.has(t))) {
      holder.append(el("h3", task + (raw ? " (raw)" : " (scaled)")));
      const table = el("table", null, { class: "sortable", id: "task-" + task });
      table.append(el("thead"), el("tbody"));
      header(table, [["model", "name"], ...datasets.map((d) => [d])]);
      for (const model of DATA.model_ids.filter((m) => state.models.has(m))) {
        const tr = el("tr");
        tr.append(modelCell(model));
        for (const d of datasets) {
          const rows = tasks.filter((r) => r.task === task && r.dataset === d && r.model === model);
          const status = rows.length ? null : statusCell(d, model);
          tr.append(status || numberCell(mean(rows.map((r) => (raw ? r.raw : r.score)).filter((x) => x !== null)), 3, !raw));
        }
        table.tBodies[0].append(tr);
      }
      holder.append(table);
    }
  }

  function renderDatasets(tasks) {
    const raw = state.mode === "raw";
    for (const holder of document.querySelectorAll(".dataset-tables")) {
      const dataset = DATA.dataset_ids[Number(holder.dataset.datasetIndex)];
      holder.replaceChildren();
      if (!state.datasets.has(dataset)) { holder.append(el("p", "(filtered out)", { class: "sub" })); continue; }
      const taskIds = DATA.task_ids.filter((t) => state.tasks.has(t));
      const summary = el("table", null, { class: "sortable" });
      summary.append(el("thead"), el("tbody"));
      const kinds = ["bio", "batch"];
      header(summary, [["model", "name"], ["score"], ...taskIds.map((t) => [t]), ...kinds.map((k) => [k]),
        ...DATA.highlights.map((h) => [DATA.metrics[h].label + " (raw)"])]);
      const perDataset = datasetScores(tasks.filter((r) => r.dataset === dataset));
      for (const model of DATA.model_ids.filter((m) => state.models.has(m))) {
        const tr = el("tr");
        tr.append(modelCell(model));
        const status = statusCell(dataset, model);
        if (status) { status.setAttribute("colspan", String(1 + taskIds.length + kinds.length + DATA.highlights.length)); tr.append(status); summary.tBodies[0].append(tr); continue; }
        tr.append(numberCell(mean(perDataset.filter((r) => r.model === model).map((r) => r.score)), 3, !raw));
        const mine = tasks.filter((r) => r.dataset === dataset && r.model === model);
        for (const t of taskIds) tr.append(numberCell(mean(mine.filter((r) => r.task === t).map((r) => (raw ? r.raw : r.score)).filter((x) => x !== null)), 3, !raw));
        for (const k of kinds) {
          const values = mine.filter((r) => r.task === "integration").map((r) => (raw ? r.rawKinds : r.kinds)[k]).filter((x) => x !== undefined);
          tr.append(numberCell(mean(values), 3, false));
        }
        for (const h of DATA.highlights) {
          const values = DATA.scores.filter((r) => r.dataset === dataset && r.model === model && r.metric === h && r.status === "ok").map((r) => r.value);
          tr.append(numberCell(mean(values), 3, false));
        }
        summary.tBodies[0].append(tr);
      }
      holder.append(summary);
      holder.append(heatmap(dataset, raw));
    }
  }

  function heatmap(dataset, raw) {
    const details = el("details");
    details.append(el("summary", "Metrics heatmap (" + (raw ? "raw values" : "scaled; raw value on hover") + ")"));
    const rows = DATA.scores.filter((r) => r.dataset === dataset && state.tasks.has(r.task) && state.models.has(r.model));
    const metrics = DATA.metric_ids.filter((m) => rows.some((r) => r.metric === m));
    const table = el("table", null, { class: "sortable heatmap" });
    table.append(el("thead"), el("tbody"));
    const tr = el("tr");
    tr.append(el("th", "model", { class: "name" }));
    for (const m of metrics) {
      const th = el("th", DATA.metrics[m].label, { title: DATA.metrics[m].description });
      th.append(el("br"), el("span", DATA.metrics[m].kind + (DATA.metrics[m].higher_is_better ? " ↑" : " ↓"), { class: "kind" }));
      tr.append(th);
    }
    table.tHead.append(tr);
    const cells = group(rows, (r) => r.model + "\u0000" + r.metric);
    for (const model of DATA.model_ids.filter((m) => state.models.has(m))) {
      const line = el("tr");
      line.append(modelCell(model));
      for (const m of metrics) {
        const found = cells.get(model + "\u0000" + m) || [];
        const ok = found.filter((r) => r.status === "ok");
        if (!ok.length) {
          const first = found[0];
          line.append(first ? el("td", "n/a", { class: "status-" + first.status, title: first.message }) : el("td", "–"));
          continue;
        }
        const value = mean(ok.map((r) => (raw ? r.value : r.scaled)).filter((x) => x !== null));
        const td = numberCell(value, raw ? 3 : 2, !raw);
        td.setAttribute("title", "raw " + fmt(mean(ok.map((r) => r.value)), 4) + " · " + ok[0].scaling);
        line.append(td);
      }
      table.tBodies[0].append(line);
    }
    details.append(table);
    return details;
  }

  function isDefault() {
    return state.bio === DEFAULTS.bio && DATA.task_ids.every((t) => weightOf(t) === (DEFAULTS.tasks[t] ?? 1.0)) &&
      state.datasets.size === DATA.dataset_ids.length && state.tasks.size === DATA.task_ids.length && state.models.size === DATA.model_ids.length;
  }

  function render() {
    const tasks = taskTable();
    renderRanking(ranking(tasks));
    renderTasks(tasks);
    renderDatasets(tasks);
    makeSortable();
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
  function buildControls() {
    const datasets = document.getElementById("filter-datasets");
    for (const d of DATA.dataset_ids) checkbox(datasets, "datasets", d, d);
    const tasks = document.getElementById("filter-tasks");
    for (const t of DATA.task_ids) {
      const wrap = checkbox(tasks, "tasks", t, t);
      const weight = el("input", null, { type: "number", min: "0", step: "0.5", "data-task-weight": t, title: "weight of " + t });
      weight.value = String(weightOf(t));
      weight.addEventListener("input", () => { const w = parseFloat(weight.value); if (!Number.isNaN(w) && w >= 0) { state.weights[t] = w; render(); } });
      wrap.append(document.createTextNode(" weight "), weight);
    }
    const models = document.getElementById("filter-models");
    for (const m of DATA.model_ids) checkbox(models, "models", m, name(m));
    const bio = document.getElementById("bio-weight");
    bio.value = String(state.bio);
    bio.addEventListener("input", () => { const w = parseFloat(bio.value); if (!Number.isNaN(w) && w >= 0 && w <= 1) { state.bio = w; render(); } });
    for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", () => { state.mode = radio.value; render(); });
    document.getElementById("download-csv").addEventListener("click", downloadCsv);
    document.getElementById("download-json").addEventListener("click", downloadJson);
    document.getElementById("reset").addEventListener("click", () => {
      state.bio = DEFAULTS.bio; state.weights = Object.assign({}, DEFAULTS.tasks); state.mode = "scaled";
      for (const key of ["datasets", "tasks", "models"]) state[key] = new Set(DATA[key.slice(0, -1) + "_ids"]);
      for (const box of document.querySelectorAll("input[data-filter]")) box.checked = true;
      for (const w of document.querySelectorAll("input[data-task-weight]")) w.value = String(weightOf(w.dataset.taskWeight));
      bio.value = String(state.bio);
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
    const columns = ["dataset", "task", "model", "seed", "metric", "kind", "value", "scaled", "scaling", "status", "message"];
    const rows = DATA.scores.filter((r) => state.datasets.has(r.dataset) && state.tasks.has(r.task) && state.models.has(r.model));
    const lines = [columns.join(",")].concat(rows.map((r) => columns.map((c) => csvField(r[c])).join(",")));
    save(lines.join("\n") + "\n", DATA.run + "-scores.csv", "text/csv");
  }
  function downloadJson() {
    const result = ranking(taskTable());
    const payload = { run: DATA.run, weights: { bio: state.bio, tasks: state.weights },
                      filters: { datasets: [...state.datasets], tasks: [...state.tasks], models: [...state.models] },
                      ranking: result.rows, scores: DATA.scores };
    save(JSON.stringify(payload, null, 2), DATA.run + "-leaderboard.json", "application/json");
  }

  // ---------- sortable tables ----------
  function makeSortable() {
    for (const table of document.querySelectorAll("table.sortable")) {
      if (table.dataset.sortable) continue;
      table.dataset.sortable = "1";
      table.tHead.addEventListener("click", (event) => {
        const th = event.target.closest("th");
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
        const body = table.tBodies[0];
        const rows = [...body.rows];
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
          return (x < y ? -1 : x > y ? 1 : 0) * (descending ? -1 : 1);
        });
        for (const row of rows) body.append(row);
      });
    }
  }

  buildControls();
  render();
})();
