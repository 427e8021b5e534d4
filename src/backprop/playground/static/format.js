// backprop playground: numbers, formulas and colours.
// Classic scripts sharing one global scope, loaded in order by index.html:
// host.js, format.js, network.js, plots.js, inspector.js, app.js (which starts the page).
"use strict";

const PALETTE = ["#2f6fd0", "#e07b20", "#2a9d4b", "#b53fb0", "#c9a227", "#17a2b8", "#d9534f", "#6f42c1"];
const POS = [224, 123, 32], NEG = [47, 111, 208];

// -- numbers and formulas ---------------------------------------------------------------------------
function fmt(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  let s = (a >= 1e5 || a < 1e-4) ? v.toExponential(digits - 1) : v.toPrecision(digits);
  if (s.includes("e")) s = s.replace(/\.?0+e/, "e").replace("e+", "e");
  else if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
  return s.replace(/-/g, "−");
}
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
// a variable with a stacked superscript and subscript, as the reference writes w_ij^k
function V(name, sub = "", sup = "") {
  const s = (sub !== "" || sup !== "") ? `<span class="ss"><span>${sup}</span><span>${sub}</span></span>` : "";
  return `<var>${name}</var>${s}`;
}
function N(v, opts = {}) {
  const id = opts.id ? ` id="${opts.id}"` : "";
  const cls = opts.cls ? ` ${opts.cls}` : "";
  const text = fmt(v);
  const shown = opts.paren && v < 0 ? `(${text})` : text;
  return `<span class="num${cls}"${id} data-value="${v}">${shown}</span>`;
}
const op = (s) => ` <span class="op">${s}</span> `; // spaces: long sums may wrap between terms
const SUM = (under) => `<span class="big">Σ</span><span class="ss"><span></span><span>${under}</span></span>`;
const frac = (a, b) => `<span class="frac"><span>${a}</span><span>${b}</span></span>`;
const partial = (num, den) => frac(`∂${num}`, `∂${den}`);
const G_NAMES = { sigmoid: "σ", tanh: "tanh", relu: "relu", identity: "id", leaky_relu: "lrelu", elu: "elu",
  softplus: "softplus", gelu: "gelu", softmax: "softmax" };

// -- colours ----------------------------------------------------------------------------------------
function diverging(t) { // t in [-1, 1] -> rgb: blue for negative, white at 0, orange for positive
  t = Math.max(-1, Math.min(1, t || 0));
  const c = t >= 0 ? POS : NEG, u = Math.abs(t);
  return [255 + (c[0] - 255) * u, 255 + (c[1] - 255) * u, 255 + (c[2] - 255) * u].map(Math.round);
}
const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
function hexRgb(h) { return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)); }
function decode(q) { const s = atob(q.b64); const out = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i); return out; }
