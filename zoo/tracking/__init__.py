"""MLflow tracking in one place (torch-free; layout in docs/ARCHITECTURE.md, "MLflow layout").

- ``store``: where the store is, a client on it, command-line targets -> parent runs, artifacts on disk;
- ``runs``: experiments, params, metrics, tags, parent / child runs, score artifacts (what training writes);
- ``parent``: the parent run's description and headline metrics;
- ``children``: the driver's child runs, created and closed from the fit jobs' events and outcomes.

Import the submodules; this package imports nothing eagerly.
"""
