"""model: the Network a user builds, trains, inspects and saves."""
