// backprop playground: what TensorFlow Playground has besides the rest of the page: input features
// (x1², sin x1, ...), the share of test data, "show test data", "discretize output", the test loss
// and editing a weight by hand. Classic scripts sharing one global scope, loaded in order by
// index.html: host.js, format.js, network.js, plots.js, inspector.js, extras.js, app.js (which starts the
// page and calls the hooks below: readExtras, writeExtras, bindExtras, drawExtras, ...).
"use strict";

// page-only display options: in the URL's fragment (a shared link keeps them), not in the config,
// so turning one on never resets training
const VIEW = { show_test: false, discretize: false };
const VIEW_KEYS = Object.keys(VIEW);
const FEATURE_LABELS = { x1: "x₁", x2: "x₂", "x1^2": "x₁²", "x2^2": "x₂²", "x1*x2": "x₁x₂",
  "sin(x1)": "sin x₁", "sin(x2)": "sin x₂" };

// an input unit's label: x₁², sin x₁, ...; an uploaded file's own column names as they are
function featureLabel(name) {
  return FEATURE_LABELS[name] || String(name).replace(/\^2$/, "²").replace("*", "·");
}

// the inspector's note on an input unit: which feature, and how the point's coordinates become a⁰
function inputNote(feature) {
  const computed = S.state.data.input_features
    ? ` = ${esc(featureLabel(feature))} of the point's raw coordinates, then` : ",";
  return `feature “${esc(feature)}”${computed} standardized with the training rows' mean and spread`;
}

// -- controls: features (check boxes), test share (slider), view options ---------------------------
function buildFeatureBoxes() {
  const box = $("features");
  if (box.childElementCount) return;
  box.innerHTML = S.options.features.map((f) => `<label title="${esc(f)}"><input type="checkbox"
    data-feature="${esc(f)}"> ${esc(FEATURE_LABELS[f] || f)}</label>`).join("");
}
const featureBoxes = () => [...$("features").querySelectorAll("input[data-feature]")];

function readExtras(cfg) {
  // features carry over to another data set on the plane; other data start from their own inputs
  const keep = cfg.data === S.state.config.data || S.options.plane_builtins.includes(cfg.data);
  if (keep) cfg.features = featureBoxes().filter((b) => b.checked).map((b) => b.dataset.feature);
  cfg.val_fraction = Number($("cfg-test-pct").value) / 100;
}

function writeExtras(state) {
  buildFeatureBoxes();
  const on = new Set(state.config.features), plane = state.data.dims === 2;
  for (const b of featureBoxes()) { b.checked = on.has(b.dataset.feature); b.disabled = !plane; }
  $("features-note").textContent = plane ? "" : "input features apply to data on the plane (two inputs)";
  const pct = Math.round(100 * state.config.val_fraction);
  $("cfg-test-pct").value = pct;
  $("test-pct").textContent = `${pct} %`;
  for (const k of VIEW_KEYS) $("view-" + k).checked = VIEW[k];
}

function bindExtras() {
  for (const b of featureBoxes()) b.onchange = applyControls;
  $("cfg-test-pct").oninput = () => { $("test-pct").textContent = `${$("cfg-test-pct").value} %`; };
  $("cfg-test-pct").onchange = applyControls;
  for (const k of VIEW_KEYS) {
    $("view-" + k).onchange = () => {
      VIEW[k] = $("view-" + k).checked;
      if (S.state) writeHash(S.state.config);
      draw();
    };
  }
}

// the fragment's keys that are not config keys; returns true when ``k`` was one
function viewFromHash(k, v) {
  if (!VIEW_KEYS.includes(k)) return false;
  VIEW[k] = v === "1";
  return true;
}
function viewToHash(p) { for (const k of VIEW_KEYS) if (VIEW[k]) p.set(k, "1"); }
function writeHash(config) {
  if (!HOST.url) return; // the widget: no address bar
  const h = configToHash(config);
  history.replaceState(null, "", location.pathname + location.search + (h ? "#" + h : ""));
}

// -- counters: the test loss beside the batch loss --------------------------------------------------
function drawExtras(f) {
  const el = $("c-test-loss");
  el.textContent = fmt(f.test_loss);
  el.dataset.value = f.test_loss ?? "";
  el.title = `E over the ${S.state.data.n_val} test rows; over the ${S.state.data.n_train} training rows: ${fmt(f.train_loss)}`;
}

// -- the decision map: discretized colours, test points ---------------------------------------------
// one colour per class (the most probable; p ≥ 0.5 for one sigmoid unit), or for regression the
// value rounded to a quarter of its range
function discreteColour(outs, p) {
  const m = S.frame.maps;
  if (S.state.data.task !== "classification") {
    const q = m.region[0], v = q.lo + (q.hi - q.lo) * outs[0][p] / 255;
    return diverging(Math.round(4 * v / (Math.max(Math.abs(q.lo), Math.abs(q.hi)) || 1)) / 4);
  }
  let best = 0;
  if (outs.length === 1) best = outs[0][p] >= 128 ? 1 : 0; // bytes over [0, 1]: 0.5 is 127.5
  else for (let k = 1; k < outs.length; k++) if (outs[k][p] > outs[best][p]) best = k;
  return hexRgb(PALETTE[best % PALETTE.length]).map((v) => Math.round(255 - (255 - v) * 0.45));
}

// after the region image is drawn: how many colours it has (the browser test reads it)
function regionDrawn(cv, img) {
  const seen = new Set();
  for (let p = 0; p < img.data.length; p += 4) seen.add((img.data[p] << 16) | (img.data[p + 1] << 8) | img.data[p + 2]);
  cv.dataset.colours = seen.size;
}

// the held-out rows as squares with a dark edge (training rows are dots), when "show test data" is on
function drawTestPoints(ctx, X, Y, classify) {
  const P = S.points;
  let n = 0;
  if (VIEW.show_test && P.test_raw) {
    ctx.strokeStyle = "#111"; ctx.lineWidth = 1.2;
    P.test_raw.forEach((r, i) => {
      const lab = P.test_label[i], y = r.length > 1 ? r[1] : lab;
      ctx.fillStyle = classify ? PALETTE[lab % PALETTE.length] : rgb(diverging(lab));
      ctx.beginPath(); ctx.rect(X(r[0]) - 3, Y(y) - 3, 6, 6); ctx.fill(); ctx.stroke();
      n++;
    });
    if (n) $("region-title").textContent += " · test rows: squares";
  }
  ctx.canvas.dataset.testPoints = n;
}

// a data-* attribute of the page's body that scripts and the browser tests wait for
function markPage(key, value) { HOST.hook.dataset[key] = value; }

// -- the weight panel: set the weight's value -------------------------------------------------------
// the current value (the network's, or before the update shown phase by phase) and a field to
// change it; the server sets it (POST /api/weight) and the next update starts from it
function addWeightEditor(body, sel) {
  if (!S.frame || !validSel(sel, S.state.sizes)) return;
  const now = sel.i === "bias" ? S.frame.biases[sel.layer][sel.j] : S.frame.weights[sel.layer][sel.i][sel.j];
  const name = sel.i === "bias" ? V("b", sel.j + 1, sel.layer + 1) : V("w", `${sel.i + 1}${sel.j + 1}`, sel.layer + 1);
  body.insertAdjacentHTML("afterbegin", `<div class="eqblock edit"><h3>set this ${sel.i === "bias" ? "bias" : "weight"}<span class="eqn">the next update starts from it</span></h3>
    <div class="math">${name} = ${N(now, { id: "insp-w-now", cls: "res" })} <span class="note">now</span></div>
    <form id="w-edit" class="w-edit"><input type="number" id="w-edit-value" step="any" min="-100" max="100"
      value="${now}" aria-label="new value"><button type="submit" id="w-edit-set">Set</button></form></div>`);
  const div = body.firstElementChild;
  div.querySelector("form").onsubmit = (ev) => {
    ev.preventDefault();
    const raw = div.querySelector("input").value.trim();
    if (raw === "") { showError("type the weight's new value, a number from −100 to 100"); return; }
    setWeight(sel, Number(raw));
  };
}

function setWeight(sel, value) {
  return serial(async () => {
    try {
      const st = await api("POST", "/api/weight", { layer: sel.layer, i: sel.i, j: sel.j, value });
      S.state = st;
      S.step = null; // the drawing and the panels show the network as it is now
      applyFrame(await api("GET", "/api/frame"));
      draw();
      await renderInspector();
      clearError();
      markPage("edits", st.n_edits);
    } catch (e) { /* shown */ }
  });
}
