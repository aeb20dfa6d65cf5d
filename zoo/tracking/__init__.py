"""MLflow tracking in one place (torch-free; layout in docs/ARCHITECTURE.md, "MLflow layout").

- ``store``: where the store is, a client on it, command-line targets -> parent runs, artifacts on disk;
- ``runs``: experiments, params, metrics, tags, parent / child runs, score artifacts (what training writes);
- ``parent``: the parent run's description and headline metrics;
- ``children``: the driver's child runs, created and closed from the fit jobs' events and outcomes;
- ``metrics``: a parent run's curated metrics (``0_...``, at most 30) and its CSV metric tables;
- ``source``: MLflow's source tags and dataset inputs (the UI's Source and Dataset columns);
- ``portable``: a moved or copied sqlite store reads and writes the artifacts beside it;
- ``view``: MLflow UI addresses (model-training layout, the shared runs view, compare, run pages).

Import the submodules; this package imports nothing eagerly.
"""
