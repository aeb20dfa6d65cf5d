"""Training: rolling splits, the trainer, fit jobs and executors, plan -> execute -> collect, studies.

Import the submodules directly (``zoo.train.trainer``, ``zoo.train.runner`` …; MLflow is
``zoo.tracking``); this package keeps its import light so ``zoo`` stays torch-free for ``datasets``
and ``evaluation``.
"""
