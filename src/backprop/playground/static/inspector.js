// backprop playground: the inspector: a unit's or a weight's formulas with this update's numbers.
// Classic scripts sharing one global scope, loaded in order by index.html:
// host.js, format.js, network.js, plots.js, inspector.js, app.js (which starts the page).
"use strict";

// -- inspector -------------------------------------------------------------------------------------
// Every number comes from /api/unit or /api/weight (the engine's trace of the last update); the ids
// (insp-h, insp-a, insp-delta, insp-w, insp-grad-d, insp-grad-mean, insp-w-new, ...) and their
// data-value attributes (full precision) are what scripts and the browser test read.

function select(sel) {
  S.sel = sel;
  $$(".unit.sel").forEach((e) => e.classList.remove("sel"));
  $$("#edges line.sel").forEach((e) => e.classList.remove("sel"));
  if (sel.type === "unit") $(`unit-${sel.layer}-${sel.unit}`).classList.add("sel");
  else if (sel.i !== "bias") S.edges[sel.layer][sel.i][sel.j].line.classList.add("sel");
  renderInspector();
}

const wi = (sel) => (sel.i === "bias" ? "0" : sel.i + 1);

async function renderInspector() {
  const body = $("insp-body"), sel = S.sel;
  if (!sel) return;
  // a redrawn network (a new setup, Reset) has lost the mark: put it back on the unit or the weight
  if (sel.type === "unit") $(`unit-${sel.layer}-${sel.unit}`)?.classList.add("sel");
  else if (sel.i !== "bias") S.edges[sel.layer]?.[sel.i]?.[sel.j]?.line.classList.add("sel");
  if (!S.step) {
    $("insp-title").innerHTML = sel.type === "unit" ? `Unit ${sel.unit + 1} of layer ${sel.layer}`
      : `Weight ${V("w", `${wi(sel)}${sel.j + 1}`, sel.layer + 1)}`;
    body.innerHTML = `<p class="muted">Make one update (<b>Step</b>) or one phase (<b>Phase</b>) to see this
      ${sel.type}'s numbers.</p>`;
    if (sel.type === "weight") addWeightEditor(body, sel);
    return;
  }
  let d;
  try {
    d = sel.type === "unit"
      ? await api("GET", `/api/unit?layer=${sel.layer}&unit=${sel.unit}&sample=${S.sample}`)
      : await api("GET", `/api/weight?layer=${sel.layer}&i=${sel.i}&j=${sel.j}`);
  } catch (e) { return; }
  if (S.sel !== sel) return; // another click came first
  body.innerHTML = sampleNav() + (sel.type === "unit" ? unitHtml(d) : weightHtml(d));
  if (sel.type === "weight") addWeightEditor(body, sel);
  body.querySelectorAll("[data-sample]").forEach((b) => {
    b.onclick = () => { S.sample = Number(b.dataset.sample); draw(); renderInspector(); };
  });
  body.querySelectorAll("[data-bias]").forEach((b) => {
    b.onclick = (ev) => { ev.preventDefault(); select({ type: "weight", layer: Number(b.dataset.bias), i: "bias", j: sel.unit }); };
  });
}

function sampleNav() {
  const st = S.step, m = st.batch.length, d = S.sample;
  if (m === 1) {
    return `<div class="sample-nav muted" id="insp-row" data-value="${st.batch[0]}">update ${st.n_update} ·
      online: one sample, training row ${st.batch[0]}</div>`;
  }
  return `<div class="sample-nav" id="insp-row" data-value="${st.batch[d]}">
    <button class="small" data-sample="${Math.max(0, d - 1)}" aria-label="previous sample">◀</button>
    <span>sample <i>d</i> = <b id="insp-sample">${d + 1}</b> of <i>m</i> = ${m}
      (training row ${st.batch[d]}) · update ${st.n_update}</span>
    <button class="small" data-sample="${Math.min(m - 1, d + 1)}" aria-label="next sample">▶</button></div>`;
}

// one titled box; ``pending`` (a phase name) shows a placeholder until that phase is revealed
function block(title, eqn, inner, pending) {
  const content = pending ? `<div class="note">shown after phase ${pending}</div>` : inner;
  return `<div class="eqblock${pending ? " pending" : ""}"><h3>${title}<span class="eqn">${eqn}</span></h3>${content}</div>`;
}

// "a·b + a·b + …" for the first ``max`` pairs of a list of objects
function terms(list, a, b, max = 6) {
  const parts = list.slice(0, max).map((t) => `${N(t[a], { paren: true })}·${N(t[b], { paren: true })}`);
  if (list.length > max) parts.push(`… (${list.length - max} more)`);
  return parts.join(op("+"));
}

function unitHtml(d) {
  const l = d.layer, j = d.unit + 1;
  if (d.kind === "input") {
    $("insp-title").innerHTML = `Input unit ${V("x", j)}`;
    return block("input", "", `<div class="math">${V("a", j, 0)} = ${V("x", j)} = ${N(d.a, { id: "insp-a", cls: "res" })}</div>
      <div class="note">${inputNote(d.feature)}</div>`);
  }
  const kind = d.kind === "output" ? "Output" : "Hidden";
  $("insp-title").innerHTML = `${kind} unit ${j} of layer ${l} <span class="muted">(${esc(d.activation)})</span>`;
  const prev = l === 1 ? (i) => V("x", i) : (i) => V("a", i, l - 1);
  const g = d.kind === "output" ? V("g", "o") : V("g", "h"), h = V("h", "j", l), dj = V("δ", "j", l);
  const gname = G_NAMES[d.activation] || d.activation;
  const fwd = `<div class="math">${h} = ${SUM("i")} ${prev("i")} ${V("w", "ij", l)} ${op("+")} ${V("b", "j", l)}</div>
    <div class="plug">= ${terms(d.inputs, "a", "w")}${op("+")}${N(d.bias, { paren: true, id: "insp-bias" })}
      = ${N(d.h, { id: "insp-h", cls: "res" })}</div>
    <div class="math">${V("a", "j", l)} = ${g}(${h}) = ${gname}(${N(d.h)}) = ${N(d.a, { id: "insp-a", cls: "res" })}</div>
    <div class="note">bias ${V("b", "j", l)} = ${V("w", "0j", l)} is the weight from the constant input 1 ·
      <a href="#" data-bias="${l - 1}">inspect it</a></div>`;
  const eqn = d.kind === "hidden" ? "eq. (4)" : "eq. (2)";
  if (d.phase < 2) return block("(i) forward pass", "", fwd) + block("(ii) backward pass: error term", eqn, "", "(ii)");
  const delta = N(d.delta, { id: "insp-delta", cls: "res" });
  let back;
  if (d.eq === 2 && d.matched) { // cross-entropy with its own output activation: g'_o cancels
    back = `<div class="math">${dj} = ${V("ŷ", "j")} ${op("−")} ${V("y", "j")}</div>
      <div class="plug">= ${N(d.yhat)}${op("−")}${N(d.y, { paren: true, id: "insp-y" })} = ${delta}</div>
      <div class="note">eq. (2) with ${esc(d.loss)}: its factor cancels ${g}′, so δ is ŷ − y</div>`;
  } else if (d.eq === 2) {
    const gp = d.g_prime === null ? "(softmax Jacobian)" : N(d.g_prime);
    back = `<div class="math">${dj} = ${g}′(${h}) (${V("ŷ", "j")} ${op("−")} ${V("y", "j")})</div>
      ${d.g_prime === null ? "" : `<div class="math">${g}′(${h}) = ${N(d.g_prime, { id: "insp-gprime" })}</div>`}
      <div class="plug">= ${gp} · (${N(d.yhat)}${op("−")}${N(d.y, { paren: true, id: "insp-y" })}) = ${delta}</div>`;
  } else {
    back = `<div class="math">${dj} = ${g}′(${h}) ${SUM("k")} ${V("δ", "k", l + 1)} ${V("w", "jk", l + 1)}</div>
      <div class="math">${g}′(${h}) = ${N(d.g_prime, { id: "insp-gprime" })}</div>
      <div class="plug">= ${N(d.g_prime)} · [${terms(d.next, "delta", "w")}]</div>
      <div class="plug">= ${N(d.g_prime)} · ${N(d.sum, { paren: true, id: "insp-sum" })} = ${delta}</div>`;
  }
  return block("(i) forward pass", "", fwd) + block("(ii) backward pass: error term", eqn, back);
}

function weightHtml(d) {
  const k = d.layer + 1, bias = d.i === "bias";
  const i = bias ? "0" : d.i + 1, j = d.j + 1, ij = `${i}${j}`;
  $("insp-title").innerHTML = bias ? `Bias ${V("b", j, k)} = ${V("w", "0" + j, k)} (unit ${j} of layer ${k})`
    : `Weight ${V("w", ij, k)}: unit ${i} of layer ${k - 1} → unit ${j} of layer ${k}`;
  const w = V("w", "ij", k), aPrev = bias ? "1" : (k === 1 ? V("x", "i") : V("a", "i", k - 1));
  const wait = {
    2: block("(ii) gradient of this sample", "eq. (1)", "", "(ii)"),
    3: block("(iii) aggregation: mean over the batch", "eq. (3)", "", "(iii)"),
    4: block("(iv) adaptation: delta rule", "eq. (5)", "", "(iv)"),
  };
  const later = (from) => [2, 3, 4].filter((p) => p >= from).map((p) => wait[p]).join("");
  let html = block("weight before the update", "",
    `<div class="math">${V("w", ij, k)} = ${N(d.w_before, { id: "insp-w", cls: "old" })}</div>`);
  if (d.phase < 2) return html + later(2);

  const m = d.batch_size, dd = Math.min(S.sample, m - 1), r = d.per_sample[dd];
  html += block("(ii) gradient of this sample", "eq. (1)",
    `<div class="math">${partial(V("E", "d"), w)} = ${V("δ", "j", k)} ${aPrev}</div>
    <div class="plug">= ${N(r.delta, { paren: true, id: "insp-delta-j" })} · ${N(r.a, { paren: true, id: "insp-a-i" })}
      = ${N(r.grad, { id: "insp-grad-d", cls: "res" })}</div>
    ${bias ? `<div class="note">for the bias the input is the constant 1</div>` : ""}`);
  if (d.phase < 3) return html + later(3);

  html += block("(iii) aggregation: mean over the batch", "eq. (3)", aggregation(d, w, m, dd, bias));
  if (d.phase < 4) return html + later(4);
  return html + block("(iv) adaptation: delta rule", "eq. (5)", adaptation(d, w, ij, k));
}

function aggregation(d, w, m, dd, bias) {
  const shown = d.per_sample.slice(0, 4).map((p) => N(p.grad, { paren: true })).join(op("+"));
  const more = m > 4 ? `${op("+")}… (${m - 4} more)` : "";
  let html = `<div class="math">${partial("E", w)} = ${frac("1", V("m"))} ${SUM("d=1..m")} ${partial(V("E", "d"), w)}</div>
    <div class="plug">= (1/${m}) · [${shown}${more}] = ${N(d.mean, { id: "insp-grad-mean", cls: "res" })}</div>`;
  if (m === 1) return html + `<div class="note">online: m = 1, so the mean is this sample's own gradient</div>`;
  const rows = d.per_sample.map((p) => `<tr class="${p.sample === dd ? "cur" : ""}" data-row="${p.row}">
    <td>${p.sample + 1}</td><td>${p.row}</td><td>${fmt(p.delta)}</td><td>${fmt(p.a)}</td>
    <td data-value="${p.grad}">${fmt(p.grad)}</td></tr>`).join("");
  html += `<div class="table-wrap"><table class="per-sample" id="insp-per-sample">
    <tr><th>d</th><th>row</th><th>δ<sub>j</sub></th><th>${bias ? "1" : "a<sub>i</sub>"}</th><th>∂E<sub>d</sub>/∂w</th></tr>
    ${rows}</table></div>`;
  if (d.truncated) html += `<div class="note">first ${d.per_sample.length} samples listed</div>`;
  return html;
}

function adaptation(d, w, ij, k) {
  const after = `<div class="math">${V("w", ij, k)} = ${N(d.w_after, { id: "insp-w-new", cls: "res" })}
    <span class="note">after the update</span></div>`;
  if (d.optimizer !== "sgd") {
    return `<div class="math">${V("w", ij, k)}: ${N(d.w_before, { cls: "old" })} ${op("→")}
      ${N(d.w_after, { id: "insp-w-new", cls: "res" })}</div>
      <div class="note">optimizer ${esc(d.optimizer)} (η = ${fmt(d.lr)}) uses ∂E/∂w = ${fmt(d.mean)} with its own
      update rule instead of eq. (5)</div>`;
  }
  const grad = partial("E", w);
  if (d.l1) {  // the L1 subgradient λ₁ sign(w) (weights only), beside the L2 term when set
    const l2sym = d.l2 ? ` ${op("+")} λ${w}` : "";
    const l2num = d.l2 ? `${op("+")}${N(d.l2)}·${N(d.w_before, { paren: true })}` : "";
    return `<div class="math">${w} ${op("←")} ${w} ${op("−")} η (${grad}${l2sym} ${op("+")} λ<sub>1</sub> sign(${w}))</div>
    <div class="plug">= ${N(d.w_before, { cls: "old" })}${op("−")}${N(d.lr)} · (${N(d.mean, { paren: true })}${l2num}${op("+")}${N(d.l1)}·${N(Math.sign(d.w_before), { paren: true })})
      = ${N(d.delta_rule, { id: "insp-w-rule" })}</div>` + after;
  }
  if (!d.l2) {
    return `<div class="math">${w} ${op("←")} ${w} ${op("−")} η ${grad}</div>
      <div class="plug">= ${N(d.w_before, { cls: "old" })}${op("−")}${N(d.lr)} · ${N(d.mean, { paren: true })}
        = ${N(d.delta_rule, { id: "insp-w-rule" })}</div>` + after;
  }
  return `<div class="math">${w} ${op("←")} ${w} ${op("−")} η (${grad} ${op("+")} λ${w})</div>
    <div class="plug">= ${N(d.w_before, { cls: "old" })}${op("−")}${N(d.lr)} · (${N(d.mean, { paren: true })}${op("+")}${N(d.l2)}·${N(d.w_before, { paren: true })})
      = ${N(d.delta_rule, { id: "insp-w-rule" })}</div>` + after;
}
