"""Training on a Dask cluster: the rows stay on the workers, only weights and gradient sums travel.

Eq. (3) of the reference is a sum over the samples of the batch, divided by m. The workers each
compute the sum over their own rows of the batch (eq. (1), summed), the driver adds those sums in
a fixed order and the trainer divides by m and makes the update -- the same update as in one
process, so ``fit`` here ends at the weights of ``Network.fit`` to float rounding.

* :func:`fit` -- ``Network.fit`` on Dask arrays, data frames or files the workers read.
* :func:`train` -- the same for a :class:`backprop.Trainer` you built (the command line's way).
* :func:`active_client` -- the client they use when none is passed (``distributed.get_client()``).
* :func:`connect` -- a client from ``"local:N"``, ``"tcp://host:port"`` or ``"tls://host:port"``, the
  handshake bounded; :func:`tls_security` -- the TLS settings for a ``tls://`` scheduler.
* :class:`DaskSource` -- the gradient source behind them, for ``Trainer.run_source``.
* :class:`DistributedError` -- the cluster could not go on.

Needs the ``dask`` extra (dask[array,dataframe] and distributed): ``pip install 'backprop-explicit[dask]'``,
or ``pip install -e '.[dask]'`` in a clone of the source.
Dask is imported only when one of these is called. See docs/distributed.md.
"""

from .cluster import connect, tls_security
from .errors import DistributedError
from .fit import active_client, fit, train
from .source import DaskSource

__all__ = ["DaskSource", "DistributedError", "active_client", "connect", "fit", "tls_security", "train"]
