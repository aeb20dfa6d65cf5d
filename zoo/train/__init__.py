"""Training: losses usage, rolling splits, the trainer, seed ensembles, MLflow tracking and studies.

Import the submodules directly (``zoo.train.trainer``, ``zoo.train.runner`` …); this package keeps
its import light so ``zoo`` stays torch-free for ``datasets`` and ``evaluation``.
"""
