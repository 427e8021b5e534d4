"""C functions called by their address from compiled code (numba intrinsics).

A ctypes function passed to a numba function as an argument works, but numba's dispatcher cannot
fingerprint it: every call then types all its arguments in Python (about 1-4 ms for the compiled
epoch's ~40 arguments, several times a second), where arrays, numbers and tuples of them are matched
in C in microseconds. So the compiled epochs get plain integers -- the addresses of
``cblas_?gemm``, of OpenBLAS's ``gotoblas_pthread`` and of their own parts -- and call them through
these intrinsics, which build the C call in LLVM from the argument types at compile time.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_VOIDP = ir.IntType(8).as_pointer()


def _pointer(typingctx, addr, like):
    """The address ``addr`` (an integer) as a pointer to values of ``like``'s type, for
    ``numba.carray``."""
    ptr = types.CPointer(like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))
    return ptr(addr, like), codegen


def _call(typingctx, fn, args):
    """``fn(args)`` for the C function ``void fn(void *)`` at address ``fn``, ``args`` an address."""

    def codegen(context, builder, signature, values):
        target = builder.inttoptr(values[0], ir.FunctionType(ir.VoidType(), [_VOIDP]).as_pointer())
        builder.call(target, [builder.inttoptr(values[1], _VOIDP)])
        return context.get_dummy_value()
    return types.void(fn, args), codegen


def _call_team(typingctx, fn, n, part, args, stride):
    """OpenBLAS's ``int gotoblas_pthread(int n, void *part, void *args, int stride)`` at address
    ``fn``: ``part(args + i * stride)`` for ``i < n`` on the library's threads (``fast.team``)."""
    i32 = ir.IntType(32)

    def codegen(context, builder, signature, values):
        fnty = ir.FunctionType(i32, [i32, _VOIDP, _VOIDP, i32])
        target = builder.inttoptr(values[0], fnty.as_pointer())
        return builder.call(target, [builder.trunc(values[1], i32), builder.inttoptr(values[2], _VOIDP),
                                     builder.inttoptr(values[3], _VOIDP), builder.trunc(values[4], i32)])
    return types.int32(fn, n, part, args, stride), codegen


def _call_gemm(typingctx, fn, int_like, order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """``cblas_?gemm`` at address ``fn`` (``void (enum, enum, enum, int m, n, k, real alpha, void *a,
    int lda, void *b, int ldb, real beta, void *c, int ldc)``): ``int_like``'s type gives the width
    of the library's integers (64 bits for scipy-openblas64, 32 otherwise), ``alpha``'s the real
    type (float: sgemm, double: dgemm); ``a``, ``b``, ``c`` are addresses."""
    sig = types.void(fn, int_like, order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, values):
        i32, it = ir.IntType(32), ir.IntType(int_like.bitwidth)
        real = context.get_value_type(alpha)

        def as_int(value, width):  # the kernel's int64 to the C type's width
            have = value.type.width
            return value if have == width.width else (builder.trunc(value, width) if have > width.width
                                                       else builder.sext(value, width))
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, it, it, it, real, _VOIDP, it, _VOIDP, it, real,
                                               _VOIDP, it])
        (_, _, order_, ta_, tb_, m_, n_, k_, alpha_, a_, lda_, b_, ldb_, beta_, c_, ldc_) = values
        args = [as_int(order_, i32), as_int(ta_, i32), as_int(tb_, i32), as_int(m_, it), as_int(n_, it),
                as_int(k_, it), alpha_, builder.inttoptr(a_, _VOIDP), as_int(lda_, it),
                builder.inttoptr(b_, _VOIDP), as_int(ldb_, it), context.cast(builder, beta_, beta, alpha),
                builder.inttoptr(c_, _VOIDP), as_int(ldc_, it)]
        builder.call(builder.inttoptr(values[0], fnty.as_pointer()), args)
        return context.get_dummy_value()
    return sig, codegen


# numba intrinsics (typed Any: their Python signature, with the typing context first, is not the
# one compiled code calls)
pointer: Any = intrinsic(_pointer)
call: Any = intrinsic(_call)
call_team: Any = intrinsic(_call_team)
call_gemm: Any = intrinsic(_call_gemm)
