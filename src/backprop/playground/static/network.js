// backprop playground: the network drawing: units (HTML boxes with canvases) and weights (SVG lines).
// Classic scripts sharing one global scope, loaded in order by index.html:
// host.js, format.js, network.js, plots.js, inspector.js, app.js (which starts the page).
"use strict";

// -- the network drawing ----------------------------------------------------------------------------
function buildNetwork() {
  const net = $("net"), svg = $("edges");
  net.querySelectorAll(".unit, .layer-label").forEach((e) => e.remove());
  svg.innerHTML = "";
  const sizes = S.state.sizes, L = sizes.length - 1;
  const W = net.clientWidth || 700, H = net.clientHeight || 360;
  const maxN = Math.max(...sizes);
  const spacing = (H - 46) / maxN; // room for the box and its value below it
  const box = Math.max(14, Math.min(58, spacing - 20, spacing * 0.7));
  const xs = sizes.map((_, l) => 50 + (W - 100) * (L === 0 ? 0.5 : l / L));
  const pos = sizes.map((n, l) => Array.from({ length: n }, (_, j) => [xs[l], 36 + (H - 46) * (j + 0.5) / n]));
  S.pos = pos; S.box = box; S.units = []; S.edges = []; S.built = sizes.slice();
  net.dataset.width = W; // the width it was drawn for (a resize redraws it)
  const ns = "http://www.w3.org/2000/svg";
  for (let k = 0; k < L; k++) {
    S.edges.push([]);
    for (let i = 0; i < sizes[k]; i++) {
      S.edges[k].push([]);
      for (let j = 0; j < sizes[k + 1]; j++) {
        const [x1, y1] = pos[k][i], [x2, y2] = pos[k + 1][j];
        const line = document.createElementNS(ns, "line");
        for (const [a, v] of [["x1", x1], ["y1", y1], ["x2", x2], ["y2", y2]]) line.setAttribute(a, v);
        line.setAttribute("class", "w");
        const hit = line.cloneNode(); hit.setAttribute("class", "hit");
        hit.id = `w-${k}-${i}-${j}`;
        hit.dataset.weight = `${k},${i},${j}`;
        hit.addEventListener("click", (ev) => { ev.stopPropagation(); select({ type: "weight", layer: k, i, j }); });
        svg.appendChild(line);
        S.edges[k][i].push({ line, hit });
      }
    }
  }
  for (const row of S.edges) for (const col of row) for (const e of col) svg.appendChild(e.hit); // hit areas on top
  const maps = S.frame && S.frame.maps;
  const dims = S.state.data.dims <= 2 ? S.state.data.dims : 0; // the plane or line of the raw data
  sizes.forEach((n, l) => {
    S.units.push([]);
    const lab = document.createElement("div");
    lab.className = "layer-label";
    lab.style.left = xs[l] + "px"; lab.style.top = "2px";
    lab.innerHTML = l === 0 ? "input<br><i>a</i><sup>0</sup> = <i>x</i>" : l === L ? `output<br>${esc(S.state.output)}`
      : `hidden ${l}<br>${esc(S.state.hidden[l - 1])}`;
    net.appendChild(lab);
    for (let j = 0; j < n; j++) {
      const u = document.createElement("div");
      u.className = "unit" + (l === 0 ? " input" : "");
      u.id = `unit-${l}-${j}`; u.dataset.layer = l; u.dataset.unit = j;
      u.style.left = pos[l][j][0] + "px"; u.style.top = pos[l][j][1] + "px";
      const size = Math.round(l === 0 ? box * 0.8 : box);
      const cv = document.createElement("canvas");
      cv.width = dims === 2 ? 24 : dims === 1 ? 48 : 1;
      cv.height = dims === 2 ? cv.width : dims === 1 ? 32 : 1;
      cv.style.width = size + "px"; cv.style.height = size + "px";
      const b = document.createElement("div"); b.className = "box"; b.appendChild(cv);
      const val = document.createElement("div"); val.className = "val"; val.id = `unit-${l}-${j}-value`;
      u.append(b, val);
      if (l === 0 || l === L) {
        const nm = document.createElement("div"); nm.className = "name";
        nm.textContent = l === 0 ? featureLabel(S.state.data.features[j] || `x${j + 1}`)
          : (S.state.data.classes && sizes[L] > 1 ? String(S.state.data.classes[j]) : "ŷ");
        u.appendChild(nm);
      }
      u.addEventListener("click", () => select({ type: "unit", layer: l, unit: j }));
      net.appendChild(u);
      S.units[l].push({ el: u, box: b, cv, val });
    }
  });
  $("legend").innerHTML = `<span>w &lt; 0 <span class="swatch"></span> w &gt; 0</span><span>line width ∝ |w|</span>`;
  void maps;
}

function drawNetwork(cur) {
  const sizes = S.state.sizes, L = sizes.length - 1;
  const Ws = cur.weights;
  let maxW = 1e-9;
  for (const W of Ws) for (const r of W) for (const w of r) maxW = Math.max(maxW, Math.abs(w));
  for (let k = 0; k < L; k++) for (let i = 0; i < sizes[k]; i++) for (let j = 0; j < sizes[k + 1]; j++) {
    const w = Ws[k][i][j], t = Math.abs(w) / maxW, line = S.edges[k][i][j].line;
    line.setAttribute("stroke", w >= 0 ? "rgb(224,123,32)" : "rgb(47,111,208)");
    line.setAttribute("stroke-width", (0.5 + 5.5 * t).toFixed(2));
    line.setAttribute("stroke-opacity", (0.25 + 0.7 * t).toFixed(2));
  }
  const q = S.colour;
  for (let l = 0; l <= L; l++) {
    const vals = l === 0 ? (q === "delta" ? null : cur.x) : (cur[q] ? cur[q][l - 1] : null);
    let scale = 1e-9;
    if (vals) for (const v of vals) scale = Math.max(scale, Math.abs(v));
    if (q === "a" && l > 0 && ["sigmoid", "tanh", "softmax"].includes(l === L ? S.state.output : S.state.hidden[l - 1])) scale = 1;
    for (let j = 0; j < sizes[l]; j++) {
      const u = S.units[l][j];
      const v = vals ? vals[j] : null;
      u.box.style.borderColor = v === null ? "#d0d5dc" : rgb(diverging(v / scale));
      u.val.textContent = v === null ? "" : fmt(v, 3);
      u.val.dataset.value = v === null ? "" : v;
    }
  }
  const m = S.frame.maps;
  if (!m) {
    for (let l = 0; l <= L; l++) for (let j = 0; j < sizes[l]; j++) {
      const u = S.units[l][j];
      const v = Number(u.val.dataset.value);
      u.cv.getContext("2d").fillStyle = u.val.dataset.value === "" ? "#fff" : u.box.style.borderColor;
      u.cv.getContext("2d").fillRect(0, 0, 1, 1);
      void v;
    }
    return;
  }
  for (let l = 0; l <= L; l++) for (let j = 0; j < sizes[l]; j++) {
    const cv = S.units[l][j].cv;
    if (m.dims === 2) drawUnitMap(cv, m.units[l][j], m.size);
    else drawUnitCurve(cv, m.units[l][j]);
  }
}

function drawUnitMap(cv, q, n) {
  if (cv.width !== n) { cv.width = n; cv.height = n; }
  const ctx = cv.getContext("2d"), img = ctx.createImageData(n, n), bytes = decode(q);
  const mx = Math.max(Math.abs(q.lo), Math.abs(q.hi)) || 1;
  for (let p = 0; p < bytes.length; p++) {
    const v = q.lo + (q.hi - q.lo) * bytes[p] / 255, c = diverging(v / mx);
    img.data.set([c[0], c[1], c[2], 255], 4 * p);
  }
  ctx.putImageData(img, 0, 0);
}
function drawUnitCurve(cv, ys) {
  const ctx = cv.getContext("2d"), w = cv.width, h = cv.height;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
  let lo = Math.min(...ys), hi = Math.max(...ys);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  ctx.strokeStyle = "#1d2430"; ctx.lineWidth = 1.5; ctx.beginPath();
  ys.forEach((y, i) => { const X = i / (ys.length - 1) * w, Y = h - 3 - (y - lo) / (hi - lo) * (h - 6); i ? ctx.lineTo(X, Y) : ctx.moveTo(X, Y); });
  ctx.stroke();
}
