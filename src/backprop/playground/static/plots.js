// backprop playground: the plots on canvas: loss curves, |delta| per layer, decision regions.
// Classic scripts sharing one global scope, loaded in order by index.html:
// host.js, format.js, network.js, plots.js, inspector.js, app.js (which starts the page).
"use strict";

// -- plots ----------------------------------------------------------------------------------------
const INK = "#1d2430";

function sizeCanvas(cv) { // the canvas at the device's pixel density, drawn in CSS pixels
  const dpr = window.devicePixelRatio || 1, w = cv.clientWidth || cv.width;
  const h = Math.round(w * (cv.getAttribute("height") / cv.getAttribute("width")));
  if (cv.width !== Math.round(w * dpr)) { cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr); }
  const ctx = cv.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return [ctx, w, h];
}

// a plot's message ("no data yet", ...) in the HTML over its canvas, where it wraps instead of
// being clipped; "" hides it
function note(cv, text) {
  const el = $(cv.id + "-note");
  el.textContent = text;
  el.hidden = !text;
}

function axes(ctx, w, h, pad, xlo, xhi, ylo, yhi, log) {
  ctx.strokeStyle = "#c7ced8"; ctx.lineWidth = 1;
  ctx.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
  ctx.fillStyle = "#6b7585"; ctx.font = "10px system-ui, sans-serif";
  const lab = (v) => (log ? fmt(10 ** v, 3) : fmt(v, 3));
  ctx.textAlign = "right";
  ctx.fillText(lab(yhi), pad.l - 3, pad.t + 8);
  ctx.fillText(lab(ylo), pad.l - 3, h - pad.b);
  ctx.textAlign = "left"; ctx.fillText(fmt(xlo, 3), pad.l, h - pad.b + 11);
  ctx.textAlign = "right"; ctx.fillText(fmt(xhi, 3), w - pad.r, h - pad.b + 11);
}

// line plot of series [{x, y, colour, dash, width}], optionally with a log y axis
function lines(ctx, w, h, series, opts = {}) {
  const pad = { l: 54, r: 6, t: 6, b: 14 };
  const tf = opts.log ? (v) => Math.log10(Math.max(v, 1e-12)) : (v) => v;
  let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
  const ok = (v) => v !== null && Number.isFinite(tf(v)); // null: a value that was not finite
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      if (!ok(s.y[i])) continue;
      const y = tf(s.y[i]);
      xlo = Math.min(xlo, s.x[i]); xhi = Math.max(xhi, s.x[i]);
      ylo = Math.min(ylo, y); yhi = Math.max(yhi, y);
    }
  }
  ctx.clearRect(0, 0, w, h);
  note(ctx.canvas, Number.isFinite(xlo) ? "" : opts.empty || "no data yet");
  if (!Number.isFinite(xlo)) return;
  if (xhi === xlo) xhi = xlo + 1;
  if (yhi - ylo < 1e-9) { ylo -= 0.5; yhi += 0.5; }
  const X = (v) => pad.l + (v - xlo) / (xhi - xlo) * (w - pad.l - pad.r);
  const Y = (v) => h - pad.b - (v - ylo) / (yhi - ylo) * (h - pad.t - pad.b);
  axes(ctx, w, h, pad, xlo, xhi, ylo, yhi, opts.log);
  for (const s of series) {
    ctx.strokeStyle = s.colour; ctx.lineWidth = s.width || 1.6; ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    let started = false;
    for (let i = 0; i < s.x.length; i++) {
      if (!ok(s.y[i])) continue;
      const y = tf(s.y[i]);
      if (started) ctx.lineTo(X(s.x[i]), Y(y)); else ctx.moveTo(X(s.x[i]), Y(y));
      started = true;
    }
    ctx.stroke(); ctx.setLineDash([]);
    if (s.x.length === 1 && ok(s.y[0])) { // one epoch so far: a dot
      ctx.fillStyle = s.colour; ctx.beginPath(); ctx.arc(X(s.x[0]), Y(tf(s.y[0])), 2.5, 0, 7); ctx.fill();
    }
  }
  if (opts.legend) legendBox(ctx, opts.legend.map((t, i) => [t, series[i].colour]), w - pad.r - 4, pad.t + 4, "right");
}

function legendBox(ctx, items, x, y, align) { // labelled colours on a white box, so lines never hide them
  ctx.font = "10px system-ui, sans-serif";
  const wid = Math.max(...items.map(([t]) => ctx.measureText(t).width)) + 18, hgt = 12 * items.length + 6;
  const x0 = align === "right" ? x - wid : x;
  ctx.fillStyle = "rgba(255,255,255,.88)"; ctx.fillRect(x0, y, wid, hgt);
  ctx.textAlign = "left";
  items.forEach(([t, c], i) => {
    ctx.fillStyle = c; ctx.fillRect(x0 + 4, y + 7 + 12 * i, 9, 3);
    ctx.fillStyle = INK; ctx.fillText(t, x0 + 16, y + 12 + 12 * i);
  });
}

function drawPlots(cur) {
  const f = S.frame, later = "the first epoch is not complete yet";
  let [ctx, w, h] = sizeCanvas($("plot-loss"));
  lines(ctx, w, h, [
    { x: f.loss_history.epoch, y: f.loss_history.value, colour: "#0f7b6c" },
    { x: f.val_loss_history.epoch, y: f.val_loss_history.value, colour: "#e07b20", dash: [5, 3] },
  ], { log: true, empty: later });
  [ctx, w, h] = sizeCanvas($("plot-path"));
  const path = { x: f.recent.map((p) => p[0]), y: f.recent.map((p) => p[1]), colour: "#6b7585", width: 1 };
  lines(ctx, w, h, [path], { log: true, empty: "no update yet" });
  [ctx, w, h] = sizeCanvas($("plot-delta"));
  const L = S.state.sizes.length - 1, dh = f.delta_history, series = [], names = [];
  for (let k = 0; k < L; k++) {
    series.push({ x: dh.epoch, y: dh.value.map((v) => v[k]), colour: PALETTE[k % PALETTE.length] });
    names.push(k === L - 1 ? `layer ${k + 1} (output)` : `layer ${k + 1}`);
  }
  lines(ctx, w, h, series, { log: true, legend: names, empty: later });
  drawRegion(cur);
}

// the colour of one cell of the decision-region image; outs[k][p]: output unit k at cell p (0..255)
function regionColour(outs, p) {
  if (VIEW.discretize) return discreteColour(outs, p);
  const m = S.frame.maps;
  if (S.state.data.task !== "classification") { // regression over the plane: the output's value
    const q = m.region[0], v = q.lo + (q.hi - q.lo) * outs[0][p] / 255;
    return diverging(v / (Math.max(Math.abs(q.lo), Math.abs(q.hi)) || 1));
  }
  const pale = (c, strength) => c.map((v) => 255 - (255 - v) * (0.12 + 0.4 * strength));
  if (outs.length === 1) { // one sigmoid unit: p(class 1)
    const pr = outs[0][p] / 255, a = hexRgb(PALETTE[0]), b = hexRgb(PALETTE[1]);
    return pale(a.map((v, i) => v + (b[i] - v) * pr), Math.abs(pr - 0.5) * 2);
  }
  let best = 0; // softmax: the most probable class, paler where the network is unsure
  for (let k = 1; k < outs.length; k++) if (outs[k][p] > outs[best][p]) best = k;
  return pale(hexRgb(PALETTE[best % PALETTE.length]), outs[best][p] / 255);
}

function drawCurve(ctx, w, h, m, P, batch) { // 1-D data: prediction against target
  $("region-title").textContent = "prediction against target";
  const pad = { l: 46, r: 6, t: 6, b: 14 };
  const useRaw = !!m.prediction; // the network's output in the target's units (identity output)
  const ys = useRaw ? P.label : P.y.map((r) => r[0]);
  const pred = useRaw ? m.prediction : m.units[m.units.length - 1][0];
  const lo = Math.min(...ys, ...pred), hi = Math.max(...ys, ...pred);
  const X = (v) => pad.l + (v - m.lo[0]) / (m.hi[0] - m.lo[0]) * (w - pad.l - pad.r);
  const Y = (v) => h - pad.b - (v - lo) / ((hi - lo) || 1) * (h - pad.t - pad.b);
  axes(ctx, w, h, pad, m.lo[0], m.hi[0], lo, hi, false);
  P.raw.forEach((r, i) => {
    ctx.fillStyle = batch.has(i) ? "#111" : "rgba(47,111,208,.55)";
    ctx.beginPath(); ctx.arc(X(r[0]), Y(ys[i]), batch.has(i) ? 3.2 : 2.2, 0, 7); ctx.fill();
  });
  if (useRaw) drawTestPoints(ctx, X, Y, false);
  ctx.strokeStyle = "#e07b20"; ctx.lineWidth = 2.2; ctx.beginPath();
  m.x.forEach((x, i) => (i ? ctx.lineTo(X(x), Y(pred[i])) : ctx.moveTo(X(x), Y(pred[i]))));
  ctx.stroke();
}

function drawRegion(cur) {
  const cv = $("plot-region"), [ctx, w, h] = sizeCanvas(cv), m = S.frame.maps, P = S.points;
  ctx.clearRect(0, 0, w, h);
  note(cv, m ? "" : `${S.state.sizes[0]} inputs: no plane to draw`);
  if (!m) {
    $("region-title").textContent = "decision regions (2-D data only)";
    return;
  }
  // ring this update's batch (not when it is every row: batch mode)
  const st = stepShown(), batch = st && st.batch.length < P.raw.length ? new Set(st.batch) : new Set();
  if (m.dims === 1) { drawCurve(ctx, w, h, m, P, batch); return; }
  const classify = S.state.data.task === "classification";
  $("region-title").textContent = classify ? "decision regions (training rows; ringed: this update's batch)"
    : "output over the input plane";
  const n = m.region_size, outs = m.region.map(decode), img = new ImageData(n, n);
  for (let p = 0; p < n * n; p++) img.data.set([...regionColour(outs, p), 255], 4 * p);
  regionDrawn(cv, img);
  const off = document.createElement("canvas");
  off.width = n; off.height = n;
  off.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, w, h);
  const X = (v) => (v - m.lo[0]) / (m.hi[0] - m.lo[0]) * w, Y = (v) => h - (v - m.lo[1]) / (m.hi[1] - m.lo[1]) * h;
  P.raw.forEach((r, i) => {
    const lab = P.label[i], inBatch = batch.has(i);
    ctx.fillStyle = classify ? PALETTE[lab % PALETTE.length] : rgb(diverging(lab));
    ctx.strokeStyle = inBatch ? "#111" : "#fff"; ctx.lineWidth = inBatch ? 2 : 1;
    ctx.beginPath(); ctx.arc(X(r[0]), Y(r[1]), inBatch ? 4 : 2.8, 0, 7); ctx.fill(); ctx.stroke();
  });
  drawTestPoints(ctx, X, Y, classify);
  if (cur.row !== undefined && P.raw[cur.row]) { // the sample the units show
    const r = P.raw[cur.row];
    ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.arc(X(r[0]), Y(r[1]), 8, 0, 7); ctx.stroke();
  }
  const cls = S.state.data.classes || [];
  if (cls.length) legendBox(ctx, cls.map((c, k) => [`class ${c}`, PALETTE[k % PALETTE.length]]), 4, 4, "left");
}
