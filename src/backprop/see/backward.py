"""The backward pass of one sample: the error terms (i) of the output, eq. (2), and (ii) of each
hidden layer, eq. (4), with g'(h) substituted where the activation allows it."""

from __future__ import annotations

import numpy as np

from backprop.see.context import Context
from backprop.see.document import Block, Eq, Eqs, Label, Para
from backprop.see.mathnodes import Dots, Fn, Frac, Num, Paren, Partial, Pow, Row, Sum, Sym, Txt

#: (loss, output activation) pairs whose error term simplifies to yhat - y
MATCHED = (("binary_cross_entropy", "sigmoid"), ("cross_entropy", "softmax"))


def gprime_row(ctx: Context, k: int, j: int) -> Eq:
    """g'(h_j) of layer k, substituted where the activation allows it."""
    act = ctx.net.activations[k]
    h, a = ctx.h(k, j), ctx.a(k, j)
    gp = ctx.n(ctx.gprime(k, j))
    lhs = Fn(ctx.nm.g(k, prime=True), ctx.nm.h(k, j))
    asym, an = ctx.nm.a(k, j), ctx.nf(a)
    one = Num(1, exact=True)
    if act.name == "sigmoid":
        return Eq(lhs, [Row(asym, Paren(Row(one, "-", asym))), Row(an, "*", Paren(Row(one, "-", an))), gp])
    if act.name == "tanh":
        return Eq(lhs, [Row(one, "-", Pow(Paren(asym), Num(2, exact=True))),
                        Row(one, "-", Pow(ctx.n(a), Num(2, exact=True))), gp])
    if act.name == "elu" and h <= 0:
        return Eq(lhs, [Row(asym, "+", one), Row(an, "+", one), gp])
    if act.name == "softplus":
        return Eq(lhs, [Fn(Sym("σ"), ctx.nm.h(k, j)), Fn(Sym("σ"), ctx.n(h)), gp])
    if act.name in ("relu", "leaky_relu", "elu"):
        why = "because h > 0" if h > 0 else "because h ≤ 0"
        return Eq(lhs, [gp], note=why)
    return Eq(lhs, [gp])


def _matched_why(ctx: Context):
    """Why delta^o = yhat - y for a loss matched to its output activation."""
    nm, L = ctx.nm, ctx.L - 1
    yk, yhk, one = Sym("y", "k"), Sym("y", "k", hat=True), Num(1, exact=True)
    dEdy = Frac(Partial(Sym("E")), Partial(yhk))
    if ctx.net.activations[L].name == "sigmoid":
        return ("for binary cross-entropy ",
                Row(dEdy, "=", Frac(Row(yhk, "-", yk), Row(yhk, Paren(Row(one, "-", yhk))))),
                " and the sigmoid's ", Row(Fn(nm.g(L, prime=True), nm.h(L, "k")), "=", yhk,
                                           Paren(Row(one, "-", yhk))),
                " cancel")
    yl, yhl = Sym("y", "l"), Sym("y", "l", hat=True)
    return ("for cross-entropy ", Row(dEdy, "=", "neg", Frac(yk, yhk)),
            " and the softmax's Jacobian ",
            Row(Frac(Partial(yhl), Partial(nm.h(L, "k"))), "=", yhl, Paren(Row(Txt("1[l=k]"), "-", yhk))),
            " combine, with ", Row(Sum("l=1", Sym("N")), yl, "=", one), ",")


def output_terms(ctx: Context, *, explain: bool = True) -> list:
    """(i): the error term of each output unit, eq. (2) (or its simplification)."""
    net, nm = ctx.net, ctx.nm
    L = ctx.L - 1
    g_o = net.activations[L]
    units, cut = ctx.shown(net.sizes[-1])
    yh = lambda k: ctx.n(ctx.a(L, k))  # noqa: E731
    yv = lambda k: Num(ctx.y[k - 1], exact=True)  # noqa: E731
    d = lambda j: ctx.n(ctx.delta(L, j))  # noqa: E731
    dk, yk, yhk = nm.delta(L, "k"), Sym("y", "k"), Sym("y", "k", hat=True)
    general = Row(dk, "=", Paren(Row(yhk, "-", yk)), Fn(nm.g(L, prime=True), nm.h(L, "k")))
    blocks: list[Block] = []
    rows: list[Eq] = []
    if (ctx.loss.name, g_o.name) in MATCHED:
        if explain:
            blocks.append(Para(
                Label("(i)"), " Error term of each output unit, eq. (2): ", general, " in general; here ",
                *_matched_why(ctx), " so it simplifies to ", Row(dk, "=", yhk, "-", yk), "."))
        for j in units:
            rows.append(Eq(nm.delta(L, j), [Row(nm.a(L, j), "-", Sym("y", nm.idx(j))),
                                            Row(yh(j), "-", yv(j)), d(j)]))
    elif g_o.elementwise:
        if explain:
            blocks.append(Para(Label("(i)"), " Error term of each output unit, eqs. (6)-(10) and (2): ",
                               general, "."))
        for j in units:
            rows.append(gprime_row(ctx, L, j))
            rows.append(Eq(nm.delta(L, j), [
                Row(Paren(Row(nm.a(L, j), "-", Sym("y", nm.idx(j)))), "*",
                    Fn(nm.g(L, prime=True), nm.h(L, j))),
                Row(Paren(Row(yh(j), "-", yv(j))), "*", ctx.nf(ctx.gprime(L, j))),
                d(j)]))
    else:  # softmax with mse: g'_o is a Jacobian, da_l/dh_k = a_l (1[l=k] - a_k)
        yl, yhl = Sym("y", "l"), Sym("y", "l", hat=True)
        s_sym = Sym("s")
        a_row = ctx.t.a[L][ctx.row]
        s_val = float(np.dot(a_row - ctx.y, a_row))
        if explain:
            blocks.append(Para(
                Label("(i)"), " Error term of each output unit, eq. (2) with the softmax's Jacobian ",
                Row(Frac(Partial(yhl), Partial(nm.h(L, "k"))), "=", yhl, Paren(Row(Txt("1[l=k]"), "-", yhk))),
                " in place of ", Fn(nm.g(L, prime=True), nm.h(L, "k")), ": ",
                Row(dk, "=", Sum("l=1", Sym("N")), Paren(Row(yhl, "-", yl)),
                    Frac(Partial(yhl), Partial(nm.h(L, "k"))),
                    "=", yhk, Paren(Row(Paren(Row(yhk, "-", yk)), "-", s_sym), "[]")),
                " with ", Row(s_sym, "=", Sum("l=1", Sym("N")), Paren(Row(yhl, "-", yl)), yhl), "."))
        rows.append(Eq(s_sym, [ctx.targets_terms(lambda k: (Paren(Row(yh(k), "-", yv(k))), "*", yh(k))),
                               ctx.n(s_val)]))
        for j in units:
            rows.append(Eq(nm.delta(L, j), [
                Row(nm.a(L, j),
                    Paren(Row(Paren(Row(nm.a(L, j), "-", Sym("y", nm.idx(j)))), "-", s_sym), "[]")),
                Row(yh(j), "*", Paren(Row(Paren(Row(yh(j), "-", yv(j))), "-", ctx.nf(s_val)), "[]")),
                d(j)]))
    if cut:
        rows.append(Eq(Dots(), []))
    blocks.append(Eqs(rows))
    return blocks


def hidden_terms(ctx: Context, *, explain: bool = True) -> list:
    """(ii): eq. (4) once per hidden layer, from the top down."""
    net, nm = ctx.net, ctx.nm
    blocks: list[Block] = []
    for k in range(ctx.L - 2, -1, -1):
        nxt = k + 1

        def wsym(i, m, nxt=nxt):
            return nm.w(nxt, i, m)

        if explain:
            generic = Row(nm.delta(k, "j"), "=", Fn(nm.g(k, prime=True), nm.h(k, "j")),
                          Sum("k=1", nm.count(nxt)), nm.delta(nxt, "k"), wsym("j", "k"))
            where = f" for layer {k + 1}" if ctx.L > 2 else ""
            blocks.append(Para(
                Label("(ii)"), f" Error term of each hidden unit{where}, eq. (4), (12)-(17): ", generic,
                " -- the error terms of the layer above flow back through the weights ", nm.wname(nxt),
                " (their values before the update)."))
        rows = []
        hidden_units, cut = ctx.shown(net.sizes[k + 1])
        n_next = net.sizes[nxt + 1]
        for j in hidden_units:
            sym = ctx.terms(n_next - 1, lambda m, j=j, nxt=nxt, wsym=wsym: (
                nm.delta(nxt, m + 1), "*", wsym(j, m + 1)))
            nums = ctx.terms(n_next - 1, lambda m, j=j, nxt=nxt: (
                ctx.nf(ctx.delta(nxt, m + 1)), "*", ctx.nf(ctx.weight(net, nxt, j, m + 1))))
            rows.append(gprime_row(ctx, k, j))
            rows.append(Eq(nm.delta(k, j), [
                Row(Fn(nm.g(k, prime=True), nm.h(k, j)), "*", Paren(sym)),
                Row(ctx.nf(ctx.gprime(k, j)), "*", Paren(nums)),
                ctx.n(ctx.delta(k, j))]))
        if cut:
            rows.append(Eq(Dots(), []))
        blocks.append(Eqs(rows))
    return blocks


def backward(ctx: Context, *, explain: bool = True) -> list:
    """(i) and (ii): every error term of the sample."""
    return output_terms(ctx, explain=explain) + hidden_terms(ctx, explain=explain)


__all__ = ["backward", "output_terms", "hidden_terms", "gprime_row", "MATCHED"]
