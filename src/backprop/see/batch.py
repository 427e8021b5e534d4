"""The steps of one (mini-)batch update: each sample's gradient, eq. (1), their mean, eq. (3), and
the delta rule (5) applied to the mean; then the batch's error after the update."""

from __future__ import annotations

from typing import Any

from backprop.see.context import Context
from backprop.see.document import Block, Eq, Eqs, Heading, Label, Para
from backprop.see.forward import sample_loss
from backprop.see.mathnodes import Dots, Frac, Node, Num, Paren, Partial, Row, Sum, Sym, fmt_number
from backprop.see.update import eta_heading, l1_note, layer_rule, rule_rows, verdict


def grad_sym(ctx: Context, k: int, i: int | str, j: int | str, d: int | str | None = None) -> Node:
    """dE/dw_ij of layer k (``d``: the error E_d of sample d alone)."""
    E = Sym("E") if d is None else Sym("E", str(d))
    return Frac(Partial(E), Partial(ctx.nm.w(k, i, j)))


def sample_gradients(ctx: Context, d: int, *, explain: bool = True) -> list:
    """Eq. (1) for sample ``d`` (1-based): dE_d/dw_ij = delta_j a_i for every shown weight."""
    net, nm = ctx.net, ctx.nm
    blocks: list[Block] = []
    if explain:
        blocks.append(Para(
            Label("(1)"), " The gradient of this sample's error for every weight, eq. (1): ",
            Row(Frac(Partial(Sym("E", "d")), Partial(Sym("w", "ij", "k"))), "=", Sym("δ", "j", "k"),
                Sym("a", "i", "k-1")),
            " -- the error term of the unit the weight leads to, times the input it carries (1 for "
            "the bias, i = 0)."))
    for k in range(ctx.L - 1, -1, -1):
        rows = []
        units, cut = ctx.shown(net.sizes[k + 1])
        links, cut_links = ctx.links(net.sizes[k])
        for j in units:
            for i in links:
                dval, aval = ctx.delta(k, j), ctx.value_of(k - 1, i)
                rows.append(Eq(grad_sym(ctx, k, i, j, d), [
                    Row(nm.delta(k, j), "*", ctx.src(k, i)),
                    Row(ctx.nf(dval), "*", ctx.num_of(k - 1, i)),
                    ctx.n(dval * aval)]))
            if cut_links:
                rows.append(Eq(Dots(), []))
        if cut:
            rows.append(Eq(Dots(), []))
        blocks.append(Eqs(rows))
    return blocks


def mean_gradients(ctxs: list[Context]) -> list:
    """Eq. (3): dE/dw = (1/m) sum_d dE_d/dw, with the engine's batch gradient as the result."""
    ctx = ctxs[0]
    net, t, m = ctx.net, ctx.t, len(ctxs)
    one, msym = Num(1, exact=True), Sym("m")
    blocks: list[Block] = [Heading("The mean over the batch, eq. (3)"), Para(
        Label("(3)"), " The gradient of the batch's error ",
        Row(Sym("E"), "=", Frac(one, msym), Sum("d=1", msym), Sym("E", "d")),
        " is the mean of the samples' gradients: ",
        Row(Frac(Partial(Sym("E")), Partial(Sym("w", "ij", "k"))), "=", Frac(one, msym), Sum("d=1", msym),
            Frac(Partial(Sym("E", "d")), Partial(Sym("w", "ij", "k")))),
        ", here with ", Row(msym, "=", Num(m, exact=True)), ".")]
    for k in range(ctx.L - 1, -1, -1):
        rows = []
        units, cut = ctx.shown(net.sizes[k + 1])
        links, cut_links = ctx.links(net.sizes[k])
        for j in units:
            for i in links:
                each = [c.n(c.delta(k, j) * c.value_of(k - 1, i)) for c in ctxs]
                items = [x for n, v in enumerate(each)
                         for x in (("+", Paren(v) if v.value < 0 else v) if n else (v,))]
                grad = t.grad_biases[k][j - 1] if i == 0 else t.grad_weights[k][i - 1, j - 1]
                rows.append(Eq(grad_sym(ctx, k, i, j), [
                    Row(Frac(one, msym), Sum("d=1", msym), grad_sym(ctx, k, i, j, "d")),
                    Row(Frac(one, Num(m, exact=True)), Paren(Row(*items))),
                    ctx.n(grad)]))
            if cut_links:
                rows.append(Eq(Dots(), []))
        if cut:
            rows.append(Eq(Dots(), []))
        blocks.append(Eqs(rows))
    return blocks


def batch_updates(ctx: Context, net_after: Any) -> list:
    """Eq. (5) with the batch's gradient: w <- w - eta dE/dw, with the engine's new value."""
    net, nm, t = ctx.net, ctx.nm, ctx.t
    blocks: list[Block] = [eta_heading(ctx.lr), *l1_note(ctx)]
    for k in range(ctx.L - 1, -1, -1):
        s, u = nm.src_letter(k), nm.letter(k)
        blocks.append(layer_rule(ctx, k, (grad_sym(ctx, k, s, u),)))
        rows = []
        units, cut = ctx.shown(net.sizes[k + 1])
        links, cut_links = ctx.links(net.sizes[k])
        for j in units:
            for i in links:
                w_sym = nm.w(k, i, j)
                grad = t.grad_biases[k][j - 1] if i == 0 else t.grad_weights[k][i - 1, j - 1]
                rows.append(Eq(w_sym, [
                    *rule_rows(ctx, w_sym, (grad_sym(ctx, k, i, j),), ctx.weight(net, k, i, j),
                               (ctx.nf(grad),), i == 0),
                    ctx.n(ctx.weight(net_after, k, i, j))], rel="<-"))
            if cut_links:
                rows.append(Eq(Dots(), []))
        if cut:
            rows.append(Eq(Dots(), []))
        blocks.append(Eqs(rows))
    return blocks


def batch_after(ctxs: list[Context], after_ctxs: list[Context], t2: Any) -> list:
    """Each sample's error and the batch's E with the new weights (``t2``: the engine's trace)."""
    ctx = ctxs[0]
    digits = ctx.digits
    rows = [Eq(Sym("E", str(d + 1)), [a.n(sample_loss(a))],
               note=f"(before: {fmt_number(sample_loss(c), digits)})")
            for d, (c, a) in enumerate(zip(ctxs, after_ctxs))]
    rows.append(Eq(Sym("E"), [ctx.n(t2.loss)], note=f"(before: {fmt_number(ctx.t.loss, digits)})"))
    return [Heading("After the update"),
            Para(f"A forward pass of the same {len(ctxs)} samples with the new weights; ",
                 Row(Sym("E"), "=", Frac(Num(1, exact=True), Sym("m")), Sum("d=1", Sym("m")), Sym("E", "d")),
                 ":"),
            Eqs(rows), verdict(float(ctx.t.loss), float(t2.loss), digits, ctx.lr)]


__all__ = ["sample_gradients", "mean_gradients", "batch_updates", "batch_after", "grad_sym"]
