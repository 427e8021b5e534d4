"""The documents: one online update, or one (mini-)batch update, assembled from the steps.

Online (the reference's worked example): introduction, forward pass (1)-(4), error, error terms
(i)/(ii), the delta rule (iii)/(iv) with old and new weights, the error after the update.
Batch: introduction with the samples; for each sample its forward pass, error E_d, error terms and
gradient dE_d/dw of eq. (1); the mean over the batch, eq. (3); the delta rule (5) with that mean;
every sample's error and the batch's E after the update.
"""

from __future__ import annotations

from typing import Any

from backprop.see.backward import backward
from backprop.see.batch import batch_after, batch_updates, mean_gradients, sample_gradients
from backprop.see.context import Context
from backprop.see.document import Block, Code, Eq, Eqs, Heading, Para
from backprop.see.forward import error, forward
from backprop.see.mathnodes import Dots, Num, Row, Sym
from backprop.see.notation import notation_para
from backprop.see.update import after, updates


def _network_words(ctx: Context) -> list:
    """``Network 2-2-1 (L = 2 inputs, 1 hidden layer, N = 1 output), ...`` (the intro's start)."""
    net, nm, L = ctx.net, ctx.nm, ctx.L
    sizes = "-".join(str(s) for s in net.sizes)
    hidden = f"{L - 1} hidden layer{'s' if L > 2 else ''}, " if L > 1 else ""
    return [
        f"Network {sizes} (", Row(nm.count(-1), "=", Num(net.sizes[0], exact=True)),
        " input" + ("s" if net.sizes[0] > 1 else "") + ", " + hidden,
        Row(Sym("N"), "=", Num(net.sizes[-1], exact=True)),
        " output" + ("s" if net.sizes[-1] > 1 else "") + "), hidden activation ",
        Code(", ".join(net.hidden) or "(none)"), ", output activation ", Code(net.output), ", loss ",
        Code(ctx.loss.name), ", learning rate ", Row(Sym("η"), "=", Num(ctx.lr, exact=True)), "."]


def _summary_note(ctx: Context) -> Para:
    return Para(f"A large network: only the first {ctx.limit} units of each layer and the first "
                f"{ctx.limit} links into each unit are shown (", Dots(), " marks the rest); all=True "
                "(--all) shows everything.", note=True)


def online_document(ctx: Context, net_after: Any, t_after: Any, note: str | None = None) -> list:
    """The worked example of one online update of the sample in ``ctx``."""
    intro = _network_words(ctx)
    intro[-1:] = [". One online update for the sample ", Row(Sym("x"), "=", ctx.vector(ctx.x)),
                  " with target ", Row(Sym("y"), "=", ctx.vector(ctx.y)), "."]
    blocks: list[Block] = [Para(*intro)]
    if note:
        blocks.append(Para(note))
    blocks.append(notation_para(ctx.L))
    blocks += [Heading("Forward pass, (1)-(4)"), *forward(ctx)]
    blocks += [Heading("Error"), *error(ctx)]
    blocks += [Heading("Backward pass: the error terms"), *backward(ctx)]
    blocks += updates(ctx, net_after)
    blocks += after(ctx, t_after)
    blocks.append(Para(
        "Every number above comes from the engine: ", Code("net.trace"), " for the forward and "
        "backward pass, the activation objects for g', and one online step of ", Code("fit"),
        " (optimizer sgd, the delta rule) on a copy of the network for the new weights; the "
        "network itself is unchanged.", note=True))
    if ctx.summarised:
        blocks.insert(2, _summary_note(ctx))
    return blocks


def _sample_sym(base, d):
    """x^(d), y^(d): sample d of the batch, as the reference writes it."""
    return Sym(base, None, f"({d})")


def _sample_steps(c: Context, d: int, *, explain: bool) -> list:
    """Sample d's forward pass, E_d, error terms and gradient; the first sample's with the general
    formulas, the others' with a short title before each step."""
    steps = [("Forward pass, (1)-(4):", forward(c, explain=explain)),
             ("Its error:", error(c, Sym("E", str(d)), explain=explain)),
             ("Error terms, (i) and (ii):", backward(c, explain=explain)),
             ("Its gradient, eq. (1):", sample_gradients(c, d, explain=explain))]
    blocks: list[Block] = []
    for title, step in steps:
        if not explain:
            blocks.append(Para(title))
        blocks += step
    return blocks


def batch_document(ctx: Context, net_after: Any, t_after: Any, *, mode: str, m_total: int,
                   note: str | None = None) -> list:
    """The worked example of one update averaged over the samples (rows) of ``ctx``'s trace."""
    m = ctx.t.x.shape[0]
    ctxs = [ctx.for_row(r) for r in range(m)]
    after_ctx = Context(net_after, t_after, ctx.Y, ctx.lr, ctx.loss, ctx.digits, ctx.limit,
                        flags={"summarised": False})
    after_ctxs = [after_ctx.for_row(r) for r in range(m)]
    intro = _network_words(ctx)
    if mode == "minibatch":
        n_up = -(-m_total // m)
        what = (f" The first mini-batch of an epoch (batch size {m}, rows in data order): samples 1 to "
                f"{m} of the {m_total}; an epoch makes {n_up} such update{'s' if n_up > 1 else ''}.")
    else:
        what = (f" One batch update over the {m} samples" + (f" (the first {m} of the {m_total})"
                                                            if m < m_total else "") + ".")
    intro += [what, " Each sample's forward and backward pass gives its gradient, eq. (1); the update "
              "uses their mean, eq. (3), in the delta rule (5) -- one update for all of them, where "
              "online training would make one per sample."]
    blocks: list[Block] = [Para(*intro)]
    if note:
        blocks.append(Para(note))
    blocks.append(notation_para(ctx.L))
    blocks.append(Para("The samples and their targets:"))
    blocks.append(Eqs([row for d, c in enumerate(ctxs, 1) for row in (
        Eq(_sample_sym("x", d), [c.vector(c.x)]), Eq(_sample_sym("y", d), [c.vector(c.y)]))]))
    for d, c in enumerate(ctxs, 1):
        blocks.append(Heading(f"Sample {d} of {m}: forward and backward pass"))
        blocks += _sample_steps(c, d, explain=d == 1)
    blocks += mean_gradients(ctxs)
    blocks += batch_updates(ctx, net_after)
    blocks += batch_after(ctxs, after_ctxs, t_after)
    blocks.append(Para(
        "Every number above comes from the engine: ", Code("net.trace"), f" of the {m} samples for the "
        "forward and backward pass (a row per sample) and for the mean gradient of eq. (3), the "
        "activation objects for g', and one step of ", Code("fit"), f" (optimizer sgd, batch_size={m}) "
        "on a copy of the network for the new weights; each gradient of eq. (1) is the product of the "
        "trace's error term and input. The network itself is unchanged.", note=True))
    if ctx.summarised:
        blocks.insert(2, _summary_note(ctx))
    return blocks


__all__ = ["online_document", "batch_document"]
