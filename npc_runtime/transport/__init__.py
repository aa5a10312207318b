"""ZeroMQ transport: the runtime's ROUTER server and the Python client (async + sync fronts)."""
