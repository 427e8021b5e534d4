"""fast: the fast path behind one seam -- BLAS bindings, fused updates, generated code for tiny networks."""
