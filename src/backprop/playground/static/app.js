// backprop playground: a client of the JSON API (docs/playground.md). The server computes every
// number with the engine; this page only draws them. No libraries: DOM, SVG and canvas. This file:
// the API, the controls and the URL, frames and actions; see index.html for the other scripts.
"use strict";

const S = {
  options: null, state: null, points: null, frame: null, step: null, sel: null, sample: 0,
  colour: "a", playing: false, units: [], edges: [], drawPending: false, applying: false, seq: 0,
  built: null, // the sizes the drawing was built for
};

// -- API ------------------------------------------------------------------------------------------
async function api(method, path, body) {
  const { status, data } = await HOST.request(method, path, body);
  if (status < 200 || status >= 300) {
    const msg = (data && data.error) || `HTTP ${status}`;
    showError(msg);
    const err = new Error(msg); err.status = status; throw err;
  }
  return data;
}
// from: "training" (a divergence or the player's error, which the next Play clears) or "request"
// (a refused setup, upload or edit: it stays until closed or replaced, so Play cannot hide it unread)
function showError(msg, from = "request") {
  $("error-text").textContent = msg; $("error").hidden = false; S.errorFrom = from;
}

// what the page says when training diverged: when, what became non-finite, and what to try
function divergenceText(d) {
  const where = `epoch ${d.epoch}, step ${d.step} of the epoch (update ${d.n_update})`;
  const layer = d.layer ? ` The largest weights are in layer ${d.layer} (|w| up to ${fmt(d.max_abs_weight[d.layer - 1], 3)}).` : "";
  return `Training diverged at ${where}: ${d.what}.${layer} Training is paused. Try a smaller η `
    + `(now ${fmt(d.lr)}, e.g. ${fmt(d.lr / 10)}), then Reset.`;
}

// a frame, from the stream or a request: only a newer one than the page has replaces it
function applyFrame(f) {
  if (f.seq < S.seq) return false;
  S.seq = f.seq; S.frame = f;
  setPlaying(f.playing);
  if (f.divergence) showError(divergenceText(f.divergence), "training");
  else if (f.error) showError(f.error, "training");
  return true;
}
function setPlaying(on) {
  S.playing = on;
  $("btn-play").textContent = on ? "❚❚ Pause" : "▶ Play";
  HOST.hook.dataset.playing = on ? "1" : "0";
}
function clearError() { $("error").hidden = true; }

// -- configuration <-> controls <-> URL ------------------------------------------------------------
const NUM_KEYS = ["n_samples", "noise", "lr", "batch_size", "seed", "data_seed", "l2", "l1"];
const URL_KEYS = ["data", "target", "n_samples", "noise", "data_seed", "layers", "hidden", "output", "loss",
  "optimizer", "lr", "mode", "batch_size", "seed", "l2", "l1", "features", "val_fraction"];

function fillSelect(sel, values, labels) {
  sel.innerHTML = values.map((v, i) => `<option value="${esc(v)}">${esc(labels ? labels[i] : v)}</option>`).join("");
}

function readControls() {
  const cfg = {};
  cfg.data = $("cfg-data").value;
  if (cfg.data.startsWith("upload-")) cfg.target = $("cfg-target").value || null;
  for (const k of NUM_KEYS) {
    const raw = $("cfg-" + k).value.trim();
    if (raw !== "") cfg[k] = Number(raw);
    else if (k === "noise") cfg[k] = null;
  }
  const rows = [...$$(".layer-row")];
  cfg.layers = rows.map((r) => Number(r.querySelector("input").value));
  cfg.hidden = rows.map((r) => r.querySelector("select").value);
  if (!cfg.hidden.length) cfg.hidden = "tanh";
  cfg.output = $("cfg-output").value || null;
  cfg.loss = $("cfg-loss").value || null;
  cfg.optimizer = $("cfg-optimizer").value;
  cfg.mode = $1("input[name=mode]:checked").value;
  readExtras(cfg);
  return cfg;
}

function layerRow(width, act) {
  const div = document.createElement("div");
  div.className = "layer-row";
  div.innerHTML = `<span></span><input type="number" min="1" max="${S.options.max_width}" value="${width}" aria-label="width">
    <select aria-label="activation">${S.options.hidden.map((h) => `<option${h === act ? " selected" : ""}>${h}</option>`).join("")}</select>
    <button class="small" title="remove this layer" aria-label="remove layer">−</button>`;
  div.querySelector("button").onclick = () => { div.remove(); numberLayers(); applyControls(); };
  div.querySelector("input").onchange = applyControls;
  div.querySelector("select").onchange = applyControls;
  return div;
}
function numberLayers() { $$(".layer-row").forEach((r, i) => { r.firstElementChild.textContent = i + 1; }); }

function writeControls(state) {
  const c = state.config;
  const uploads = S.options.uploads || [];
  fillSelect($("cfg-data"), [...S.options.builtins, ...uploads.map((u) => u.id)],
    [...S.options.builtins, ...uploads.map((u) => u.filename)]);
  $("cfg-data").value = c.data;
  const up = uploads.find((u) => u.id === c.data);
  $("target-row").hidden = !up;
  $("upload-name").textContent = up ? `${up.filename}: ${up.rows} rows` : ""; // a built-in: no file named
  if (up) { fillSelect($("cfg-target"), up.columns); $("cfg-target").value = state.data.target; }
  for (const k of NUM_KEYS) $("cfg-" + k).value = c[k] === null || c[k] === undefined ? "" : c[k];
  $("cfg-n_samples").disabled = $("cfg-noise").disabled = !!up;
  const box = $("layers"); box.innerHTML = "";
  c.layers.forEach((w, i) => box.appendChild(layerRow(w, c.hidden[i])));
  numberLayers();
  $("add-layer").disabled = c.layers.length >= S.options.max_layers;
  fillSelect($("cfg-output"), ["", ...S.options.outputs], [`auto (${state.output})`, ...S.options.outputs]);
  fillSelect($("cfg-loss"), ["", ...S.options.losses], [`auto (${state.loss})`, ...S.options.losses]);
  $("cfg-output").value = c.output ?? ""; $("cfg-loss").value = c.loss ?? "";
  fillSelect($("cfg-optimizer"), S.options.optimizers);
  $("cfg-optimizer").value = c.optimizer;
  $1(`input[name=mode][value=${c.mode}]`).checked = true;
  $("cfg-batch_size").disabled = c.mode !== "minibatch";
  const m = state.data.n_train;
  $("mode-note").textContent = c.mode === "online" ? `online: one update per sample, ${m} updates per epoch`
    : c.mode === "batch" ? `batch: all ${m} samples' gradients averaged, one update per epoch`
    : `mini-batch: B = ${state.batch_size}, ${state.updates_per_epoch} updates per epoch over ${m} samples`;
  writeExtras(state);
}

function configToHash(c) {
  const p = new URLSearchParams();
  for (const k of URL_KEYS) {
    let v = c[k];
    if (v === null || v === undefined) continue;
    if (k === "data" && String(v).startsWith("upload-")) return ""; // an upload lives on this server only
    if (Array.isArray(v)) v = v.join(",");
    p.set(k, v);
  }
  viewToHash(p);
  return p.toString();
}
function configFromHash() {
  const h = location.hash.replace(/^#/, "");
  if (!h) return null;
  const p = new URLSearchParams(h), cfg = {};
  for (const [k, v] of p) {
    if (viewFromHash(k, v)) continue;
    if (k === "layers") cfg.layers = v === "" ? [] : v.split(",").map(Number);
    else if (k === "features") cfg.features = v === "" ? [] : v.split(",");
    else if (k === "val_fraction") cfg[k] = Number(v);
    else if (k === "hidden") cfg.hidden = v.split(",");
    else if (NUM_KEYS.includes(k)) cfg[k] = Number(v);
    else cfg[k] = v;
  }
  return cfg;
}

// a new setup is an action like the buttons': typing η and clicking Play at once applies η first
// (the field's change fires before the click), then plays on the new setup
function applyControls() {
  if (S.applying) { S.pendingApply = true; return Promise.resolve(); } // applied after the setup loading now
  const cfg = readControls(); // read now: the controls as the user left them
  if (cfg.output !== S.state.config.output && HOST.root.activeElement === $("cfg-output")) cfg.loss = null;
  return serial(() => applyConfig(cfg));
}
async function applyConfig(cfg) {
  // the error is cleared before the new state is shown: a divergence that state carries stays visible
  try { const st = await api("POST", "/api/config", cfg); clearError(); await applyState(st); } catch (e) {
    // the message is shown; the controls go back to the setup that is still running
    S.applying = true; try { writeControls(S.state); } finally { S.applying = false; }
  }
}

// -- state, frames --------------------------------------------------------------------------------
async function applyState(state) {
  S.applying = true;
  HOST.hook.dataset.busy = "1";
  try {
    S.state = state; S.step = null; S.sel = S.sel && validSel(S.sel, state.sizes) ? S.sel : null; S.sample = 0;
    writeControls(state);
    if (HOST.url) history.replaceState(null, "", location.pathname + (configToHash(state.config) ? "#" + configToHash(state.config) : ""));
    S.points = await api("GET", "/api/points");
    buildNetwork();
    applyFrame(await api("GET", "/api/frame"));
    draw();
    renderInspector();
  } finally {
    S.applying = false;
    HOST.hook.dataset.busy = "0";
    if (S.pendingApply) { S.pendingApply = false; applyControls(); }
  }
}
function validSel(sel, sizes) {
  if (sel.type === "unit") return sel.layer < sizes.length && sel.unit < sizes[sel.layer];
  return sel.layer < sizes.length - 1 && (sel.i === "bias" || sel.i < sizes[sel.layer]) && sel.j < sizes[sel.layer + 1];
}

function openStream() {
  HOST.subscribe((f) => {
    if (!applyFrame(f)) return;
    if (f.playing) S.step = stepShown();
    scheduleDraw();
  }, shownElsewhere);
}
function scheduleDraw() {
  if (S.drawPending) return;
  S.drawPending = true;
  requestAnimationFrame(() => { S.drawPending = false; draw(); });
}

// the last traced update, when the frame is of it: of its phases (i)-(iii) (the frame is the state
// before it, ``pending``) or of the whole update (the frame is the state after it)
function stepShown() {
  const st = S.step, f = S.frame;
  if (!st || !f) return null;
  return (f.pending ? f.pending.n_update === st.n_update : st.n_update === f.n_updates) ? st : null;
}

// the values shown on the units: the last traced update's sample, else the frame's probe sample
function current() {
  const st = stepShown();
  if (st) {
    const d = S.sample;
    const pick = (arr) => arr ? arr.map((l) => l[d]) : null;
    return { x: st.x[d], h: pick(st.h), a: pick(st.a), delta: st.phase >= 2 ? pick(st.delta) : null,
      row: st.batch[d], label: `update ${st.n_update}, sample ${d + 1} of ${st.batch.length} (training row ${st.batch[d]})`,
      weights: st.phase >= 4 ? st.weights_after : st.weights_before };
  }
  const p = S.frame.probe;
  return { x: p.x, h: p.h, a: p.a, delta: p.delta, row: p.row, weights: S.frame.weights,
    label: `training row ${p.row} on the current weights` };
}

function frameFits(f, sizes) {
  return f.weights.length === sizes.length - 1
    && f.weights.every((W, k) => W.length === sizes[k] && W[0].length === sizes[k + 1]);
}
function draw() {
  if (!S.state || !S.frame) return;
  // a new network whose drawing is not built yet, or a frame of the previous one still on its way
  if (!S.built || S.built.join() !== S.state.sizes.join() || !frameFits(S.frame, S.state.sizes)) return;
  const f = S.frame, cur = current();
  $("c-epoch").textContent = f.epoch;
  $("c-updates").textContent = f.n_updates;
  $("c-upe").textContent = f.updates_per_epoch;
  const lastLoss = f.recent.length ? f.recent[f.recent.length - 1][1] : null;
  $("c-loss").textContent = fmt(lastLoss); $("c-loss").dataset.value = lastLoss ?? "";
  $("c-metric-name").textContent = S.state.metric === "r2" ? "test R²" : "test acc.";
  drawExtras(f);
  $("c-metric").textContent = f.val_metric === null ? "–" : S.state.metric === "r2" ? fmt(f.val_metric, 3) : (100 * f.val_metric).toFixed(1) + " %";
  $("c-rate").textContent = f.playing ? Math.round(f.rate).toLocaleString("en") : "–";
  $("sample-info").textContent = cur.label;
  drawNetwork(cur);
  drawPhases();
  drawPlots(cur);
  const nxt = !S.step || S.step.phase >= 4 ? 1 : S.step.phase + 1;
  $("phase-next").textContent = ["", "(i)", "(ii)", "(iii)", "(iv)"][nxt];
}
function drawPhases() {
  const st = stepShown(), ph = st ? st.phase : 0;
  $$(".phase").forEach((el) => {
    const p = Number(el.dataset.phase);
    el.classList.toggle("done", p < ph || ph === 4);
    el.classList.toggle("current", p === ph && ph !== 4);
  });
}

// -- actions ---------------------------------------------------------------------------------------
// one action at a time, in the order asked: a second key press waits for the first action's
// answers, so play-then-pause can never end with the first action's late frame saying "playing"
let actions = Promise.resolve();
function serial(fn) {
  const run = actions.then(fn, fn);
  actions = run.catch(() => {});
  return run;
}
function doStep(path) { return serial(() => stepNow(path)); }
async function stepNow(path) {
  try {
    await showStep(await api("POST", path));
  } catch (e) { // shown; a divergence is said the page's way, with the frame that carries it
    try { applyFrame(await api("GET", "/api/frame")); scheduleDraw(); } catch (e2) { /* shown */ }
  }
}
async function showStep(st) {
  S.step = st;
  if (S.sample >= st.batch.length) S.sample = 0;
  applyFrame(await api("GET", "/api/frame"));
  draw();
  await renderInspector();
  HOST.hook.dataset.nUpdates = st.n_update;
  HOST.hook.dataset.phase = st.phase;
}
// an update or a new setup made elsewhere (the notebook widget's Python side): shown as if asked here
function shownElsewhere(kind, value) {
  return serial(async () => {
    try {
      if (kind === "state") { clearError(); await applyState(value); }
      else await showStep(value);
    } catch (e) { /* shown */ }
  });
}
function togglePlay() { return serial(toggleNow); }
async function toggleNow() {
  try {
    if (S.playing) {
      await api("POST", "/api/pause");
      setPlaying(false);
      applyFrame(await api("GET", "/api/frame")); // the state it stopped at, not a frame still on its way
      draw();
    }
    else {
      if (S.errorFrom === "training") clearError();
      await api("POST", "/api/play", { speed: speedValue() });
      S.step = null; setPlaying(true);
      // the server's word: training may have stopped already (a divergence on the first updates)
      applyFrame(await api("GET", "/api/frame"));
      scheduleDraw();
    }
  } catch (e) { /* shown */ }
}
async function upload(file) {
  if (file.size > S.options.max_upload) {
    showError(`${file.name} is larger than the limit of ${S.options.max_upload / 1048576} MB`);
    return;
  }
  try {
    const info = await api("POST", `/api/upload?filename=${encodeURIComponent(file.name)}`, file);
    S.options = await api("GET", "/api/options");
    const cfg = readControls();
    cfg.data = info.id;
    cfg.target = info.columns[info.columns.length - 1];
    delete cfg.n_samples; delete cfg.noise; delete cfg.features; // the file's own two (or more) inputs
    cfg.output = null; cfg.loss = null;
    await applyState(await api("POST", "/api/config", cfg));
    clearError();
  } catch (e) { /* shown */ }
}

function addLayer() {
  const rows = $$(".layer-row"), last = rows[rows.length - 1];
  const width = last ? last.querySelector("input").value : 4, act = last ? last.querySelector("select").value : "tanh";
  $("layers").appendChild(layerRow(width, act));
  numberLayers();
  applyControls();
}

async function share() {
  const link = location.origin + location.pathname + location.hash;
  try {
    await navigator.clipboard.writeText(link);
    $("btn-share").textContent = "Copied";
    setTimeout(() => { $("btn-share").textContent = "Share"; }, 1500);
  } catch (e) {
    window.prompt("Copy this link. Others open it on their own playground: their address, then this #…", link);
  }
}

const speedValue = () => ($("speed").value === "" ? null : Number($("speed").value));

function bindControls() {
  $("btn-play").onclick = togglePlay;
  $("btn-step").onclick = () => doStep("/api/step");
  $("btn-phase").onclick = () => doStep("/api/phase");
  $("btn-reset").onclick = () => serial(async () => {
    try { const st = await api("POST", "/api/reset"); clearError(); await applyState(st); } catch (e) { /* shown */ }
  });
  $("speed").onchange = () => { if (S.playing) api("POST", "/api/play", { speed: speedValue() }).catch(() => {}); };
  $("error-close").onclick = clearError;
  $("add-layer").onclick = addLayer;
  const ids = ["cfg-data", "cfg-target", "cfg-output", "cfg-loss", "cfg-optimizer", ...NUM_KEYS.map((k) => "cfg-" + k)];
  for (const id of ids) $(id).onchange = applyControls;
  $$("input[name=mode]").forEach((r) => { r.onchange = applyControls; });
  $$("input[name=colour]").forEach((r) => { r.onchange = () => { S.colour = r.value; draw(); }; });
  bindExtras();
  $("upload").onchange = (ev) => { if (ev.target.files[0]) upload(ev.target.files[0]); ev.target.value = ""; };
  $("btn-share").onclick = share;
  $("btn-share").hidden = !HOST.url; // the widget's setup is the Python call that made it
  const download = (path) => Promise.resolve(HOST.download(path)).catch((e) => showError(String(e.message || e)));
  $("btn-model").onclick = () => download("/api/export/model");
  $("btn-explain").onclick = () => download(`/api/export/explain?format=${$("explain-format").value}&sample=${S.sample}`);
  HOST.keys.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const el = HOST.root.activeElement;
    // keys type into text and number fields and choose in lists; a focused radio button, check box
    // or button does not take the space key: it is play/pause everywhere but where one types
    const typing = el && (el.tagName === "SELECT" || el.tagName === "TEXTAREA"
      || (el.tagName === "INPUT" && !["radio", "checkbox", "button", "file"].includes(el.type)));
    if (typing) return;
    if (ev.key === " ") { ev.preventDefault(); togglePlay(); }
    else if (el && el.tagName === "INPUT") return; // s and p on a radio button: nothing
    else if (ev.key === "s") doStep("/api/step");
    else if (ev.key === "p") doStep("/api/phase");
    else return;
    ev.stopPropagation(); // taken here: not also a shortcut of what holds the page (a notebook)
  });
  let resizeTimer = null;
  HOST.onResize(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { buildNetwork(); draw(); }, 150);
  });
}

async function init() {
  if (HOST.url) {
    const url = new URL(location.href);
    if (url.searchParams.has("token")) { // the cookie carries it from now on; keep it out of shared links
      url.searchParams.delete("token");
      history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  }
  S.options = await api("GET", "/api/options");
  const fromHash = HOST.url ? configFromHash() : null;
  let state = null;
  if (fromHash) { try { state = await api("POST", "/api/config", fromHash); } catch (e) { state = null; } }
  if (!state) state = await api("GET", "/api/state");
  await applyState(state);
  openStream();
  bindControls();
  HOST.hook.dataset.ready = "1";
}
init().catch((e) => showError(String(e.message || e)));
