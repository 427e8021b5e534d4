"""model: the Network a user builds, trains, inspects and saves."""

from backprop.model import files
from backprop.model.network import Network, Trace

__all__ = ["Network", "Trace", "files"]
