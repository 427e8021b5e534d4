"""The forward pass (1)-(4) and the error E of one sample, with the engine's numbers substituted."""

from __future__ import annotations

from typing import Any

from backprop.see.context import Context
from backprop.see.document import Block, Code, Eq, Eqs, Label, Para
from backprop.see.mathnodes import Dots, Fn, Frac, Half, Name, Num, Paren, Pow, Row, Sum, Sym
from backprop.see.notation import describe_activation


def forward(ctx: Context, *, explain: bool = True) -> list:
    """h = sum a w (eqs. 1, 3) and a = g(h) (eqs. 2, 4), layer by layer; ``explain=False`` leaves
    out the paragraphs with the general formulas (a batch's later samples)."""
    net, nm = ctx.net, ctx.nm
    blocks: list[Block] = []
    for k in range(ctx.L):
        out = k == ctx.L - 1
        eq_h, eq_a = ("(3)", "(4)") if out and ctx.L > 1 else ("(1)", "(2)")
        where = "" if ctx.L <= 2 else (" (output layer)" if out else f" (layer {k + 1})")
        u, s = nm.letter(k), nm.src_letter(k)
        generic_src = Sym("x", s) if k == 0 else nm.a(k - 1, s)
        generic = Row(nm.h(k, u), "=", Sum(f"{s}=0", nm.count(k - 1)), generic_src, nm.w(k, s, u))
        if explain:
            blocks.append(Para(Label(eq_h), where + " ", generic,
                               ": the affine transformation, bias included."))
        n_in = net.sizes[k]
        units, cut = ctx.shown(net.sizes[k + 1])
        rows = []
        for j in units:
            sym = ctx.terms(n_in, lambda i, j=j, k=k: (ctx.src(k, i), "*", nm.w(k, i, j)))
            nums = ctx.terms(n_in, lambda i, j=j, k=k: (ctx.num_of(k - 1, i), "*",
                                                        ctx.nf(ctx.weight(net, k, i, j))))
            rows.append(Eq(nm.h(k, j), [sym, nums, ctx.n(ctx.h(k, j))]))
        if cut:
            rows.append(Eq(Dots(), []))
        blocks.append(Eqs(rows))
        act = net.activations[k]
        if explain:
            blocks.append(Para(Label(eq_a), where + " ", Row(nm.a(k, u), "=", Fn(nm.g(k), nm.h(k, u))),
                               " with ", Code(act.name), ": ", describe_activation(act, nm, k), "."))
        rows = []
        for j in units:
            if act.name == "softmax":
                den = ctx.terms(net.sizes[-1] - 1, lambda i, k=k: (Pow(Sym("e"), ctx.n(ctx.h(k, i + 1))),))
                rows.append(Eq(nm.a(k, j), [
                    Frac(Pow(Sym("e"), nm.h(k, j)),
                         Row(Sum("l=1", Sym("N")), Pow(Sym("e"), nm.h(k, "l")))),
                    Frac(Pow(Sym("e"), ctx.n(ctx.h(k, j))), den),
                    ctx.n(ctx.a(k, j))]))
            else:
                rows.append(Eq(nm.a(k, j), [Fn(nm.g(k), nm.h(k, j)), Fn(nm.g(k), ctx.n(ctx.h(k, j))),
                                            ctx.n(ctx.a(k, j))]))
        if cut:
            rows.append(Eq(Dots(), []))
        blocks.append(Eqs(rows))
    return blocks


def sample_loss(ctx: Context) -> float:
    """E_d of the context's sample, by the engine's loss object."""
    r, L = ctx.row, ctx.L - 1
    sl = slice(r, r + 1)
    return float(ctx.loss.value(ctx.Y[sl], ctx.t.a[L][sl], ctx.t.h[L][sl]))


def error(ctx: Context, E: Any | None = None, *, explain: bool = True) -> list:
    """The error of the sample (the reference's sum of squares, or the cross-entropy)."""
    L = ctx.L - 1
    yh = lambda k: ctx.n(ctx.a(L, k))  # noqa: E731
    yv = lambda k: Num(ctx.y[k - 1], exact=True)  # noqa: E731
    name = ctx.loss.name
    E = Sym("E") if E is None else E
    yk, yhk = Sym("y", "k"), Sym("y", "k", hat=True)
    one = Num(1, exact=True)
    if name == "mse":
        generic = Row(E, "=", Half(), Sum("k=1", Sym("N")),
                      Pow(Paren(Row(yhk, "-", yk)), Num(2, exact=True)))
        sub = Row(Half(), Paren(ctx.targets_terms(
            lambda k: (Pow(Paren(Row(yh(k), "-", yv(k))), Num(2, exact=True)),)), "[]"))
        text = "the reference's sum of squares"
    elif name == "binary_cross_entropy":
        generic = Row(E, "=", "neg", Sum("k=1", Sym("N")), Paren(Row(
            yk, Fn(Name("ln"), yhk), "+", Paren(Row(one, "-", yk)),
            Fn(Name("ln"), Row(one, "-", yhk))), "[]"))
        sub = Row("neg", Paren(ctx.targets_terms(lambda k: (
            yv(k), "*", Fn(Name("ln"), yh(k)), "+", Num(1 - ctx.y[k - 1], exact=True), "*",
            Fn(Name("ln"), Row(one, "-", yh(k))))), "[]"))
        text = "binary cross-entropy (summed over the outputs)"
    else:
        generic = Row(E, "=", "neg", Sum("k=1", Sym("N")), yk, Fn(Name("ln"), yhk))
        sub = Row("neg", Paren(ctx.targets_terms(lambda k: (yv(k), "*", Fn(Name("ln"), yh(k)))), "[]"))
        text = "cross-entropy"
    blocks: list[Block] = []
    if explain:
        blocks.append(Para("The error of this sample, ", text, ": ", generic, "."))
    blocks.append(Eqs([Eq(E, [sub, ctx.n(sample_loss(ctx))])]))
    return blocks


__all__ = ["forward", "error", "sample_loss"]
