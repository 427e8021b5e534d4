"""core: the reference's mathematics -- activations g and g', losses E and eq. (2), the equations
as functions."""
