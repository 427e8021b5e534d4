"""The delta rule (5) of one online update, old and new value of every weight, and the error after it."""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop.see.context import Context
from backprop.see.document import Block, Eq, Eqs, Heading, Label, Para
from backprop.see.mathnodes import Dots, Fn, Name, Num, Paren, Row, Sym, fmt_number


def eta_heading(lr: float) -> Heading:
    return Heading("Updating the weights: the delta rule (5), ", Row(Sym("η"), "=", Num(lr, exact=True)))


def l1_note(ctx: Context) -> list:
    """With an L1 penalty: the sentence saying what it adds to eq. (3)'s gradient (else nothing)."""
    if not ctx.l1:
        return []
    lam = Sym("λ", "1")
    return [Para("With the L1 penalty ", Row(lam, "=", Num(ctx.l1, exact=True)),
                 " (E plus λ₁ Σ|w| over the weights), each weight's gradient gains the subgradient ",
                 Row(lam, "*", Fn(Name("sign"), Sym("w"))), " (sign(0) = 0); the biases carry no penalty.")]


def rule_rows(ctx: Context, w_sym: Any, grad_sym: tuple, w: float, grad_num: tuple, bias: bool) -> list:
    """The symbolic and numeric right-hand sides of w <- w - eta (gradient), with the L1 term
    lambda_1 sign(w) inside the parenthesis when the update has one and w is a weight."""
    eta, lr = Sym("η"), Num(ctx.lr, exact=True)
    if not ctx.l1 or bias:
        return [Row(w_sym, "-", eta, "*", *grad_sym), Row(ctx.n(w), "-", lr, "*", *grad_num)]
    sym = Paren(Row(*grad_sym, "+", Sym("λ", "1"), "*", Fn(Name("sign"), w_sym)))
    sign = Num(float(np.sign(w)), exact=True)
    num = Paren(Row(*grad_num, "+", Num(ctx.l1, exact=True), "*", Paren(sign) if w < 0 else sign))
    return [Row(w_sym, "-", eta, "*", sym), Row(ctx.n(w), "-", lr, "*", num)]


def layer_rule(ctx: Context, k: int, grad: Any) -> Para:
    """The paragraph (iii)/(iv) introducing the update of layer k's weights; ``grad`` is the
    gradient term of the rule (the online update's delta_j a_i, or the batch's dE/dw)."""
    nm = ctx.nm
    out = k == ctx.L - 1
    s = nm.src_letter(k)
    wg = nm.w(k, s, nm.letter(k))
    label = "(iii)" if out else "(iv)"
    eqno = {(True, 2): "(11)", (False, 2): "(18)"}.get((out, ctx.L), "(1) and (5)")
    zero_src = Row(Sym("x", "0") if k == 0 else nm.a(k - 1, 0), "=", Num(1, exact=True))
    where = "output layer" if out else (f"hidden layer {k + 1}" if ctx.L > 2 else "hidden layer")
    return Para(Label(label), " The weights ", nm.wname(k), f" into the {where}, eq. {eqno}: ",
                Row(wg, "<-", wg, "-", Sym("η"), *grad), f" ({s} = 0 is the bias, ", zero_src, ").")


def updates(ctx: Context, net_after: Any) -> list:
    """w <- w - eta delta_j a_i for every shown weight, with the engine's new value."""
    net, nm = ctx.net, ctx.nm
    blocks: list[Block] = [eta_heading(ctx.lr), *l1_note(ctx)]
    for k in range(ctx.L - 1, -1, -1):
        s, u = nm.src_letter(k), nm.letter(k)
        src_generic = Sym("x", s) if k == 0 else nm.a(k - 1, s)
        blocks.append(layer_rule(ctx, k, (nm.delta(k, u), src_generic)))
        rows = []
        units, cut = ctx.shown(net.sizes[k + 1])
        links, cut_links = ctx.links(net.sizes[k])
        for j in units:
            dval = ctx.delta(k, j)
            for i in links:
                w_sym = nm.w(k, i, j)
                rows.append(Eq(w_sym, [
                    *rule_rows(ctx, w_sym, (nm.delta(k, j), "*", ctx.src(k, i)), ctx.weight(net, k, i, j),
                               (ctx.nf(dval), "*", ctx.num_of(k - 1, i)), i == 0),
                    ctx.n(ctx.weight(net_after, k, i, j))], rel="<-"))
            if cut_links:
                rows.append(Eq(Dots(), []))
        if cut:
            rows.append(Eq(Dots(), []))
        blocks.append(Eqs(rows))
    return blocks


def verdict(e0: float, e1: float, digits: int, lr: float) -> Para:
    """Did the error fall?"""
    f = lambda v: fmt_number(v, digits)  # noqa: E731
    if e1 < e0:
        pct = f" ({100 * (e0 - e1) / e0:.3g} %)" if e0 > 0 else ""
        return Para(f"The error fell from {f(e0)} to {f(e1)}, by {f(e0 - e1)}{pct}: "
                    "one step down the gradient.")
    if e1 > e0:
        return Para(f"The error rose from {f(e0)} to {f(e1)}: the step overshot, ",
                    Row(Sym("η"), "=", Num(lr, exact=True)), " is too large for this point.")
    return Para("The error did not change (the gradient is zero here, or too small to show).")


def after(ctx: Context, t2: Any) -> list:
    """The forward pass of the same sample with the new weights (``t2``: the engine's trace)."""
    t, L = ctx.t, ctx.L - 1
    units, cut = ctx.shown(ctx.net.sizes[-1])
    rows = [Eq(ctx.nm.a(L, j), [ctx.n(t2.a[L][0, j - 1])],
               note=f"(before: {fmt_number(t.a[L][0, j - 1], ctx.digits)})") for j in units]
    if cut:
        rows.append(Eq(Dots(), []))
    rows.append(Eq(Sym("E"), [ctx.n(t2.loss)], note=f"(before: {fmt_number(t.loss, ctx.digits)})"))
    return [Heading("After the update"),
            Para("A forward pass of the same sample with the new weights:"),
            Eqs(rows), verdict(float(t.loss), float(t2.loss), ctx.digits, ctx.lr)]


__all__ = ["updates", "after", "verdict", "layer_rule", "eta_heading", "l1_note", "rule_rows"]
