"""Cluster mode (docs/scaling.md): gateways in front of a pool of workers sharing PostgreSQL.

``worker``: a full runtime whose world lives in PostgreSQL; it reports to the registry and runs
each conversation under the fence (epoch) its gateway claimed. ``gateway``: binds the client
endpoint, speaks protocol v1 unchanged, places conversations on workers and moves them when a
worker dies, replaying the input not yet acknowledged.
"""
