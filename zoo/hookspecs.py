"""Every hook a DecompZoo plugin may implement, documented where it is declared.

A plugin is any module (or object) with functions marked ``@zoo.hookimpl`` whose names match the
hookspecs below. Built-ins in ``plugins/`` use exactly these hooks; so does a third party.
"""

from __future__ import annotations

import pluggy

PROJECT = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_components() -> list:
    """Return the components this plugin provides, as a list of :class:`zoo.registry.Component`.

    Each component names its slot (``decomposition``, ``encoder``, ``mixer``, ``fusion``, ``head``,
    ``loss``, ``estimator`` or ``factor``; each slot's contract is in :mod:`zoo.interfaces`), its name,
    a frozen attrs config class (its fields and defaults are what specs may set) and a builder
    ``build(config, in_features)`` (``in_features``: the input width; for a mixer or a fusion, the
    branches' width d). Model slots build a ``torch.nn.Module``; an ``estimator``'s builder gets the
    number of features and returns a :class:`zoo.interfaces.EstimatorSetup` (an unfitted
    scikit-learn-API regressor) instead; a
    ``factor`` builder ignores ``in_features`` and returns a :class:`zoo.interfaces.Factor`, an object
    whose ``__call__(cube: xr.Dataset) -> xr.DataArray`` gives a ``(date, symbol)`` float32 baseline
    score that uses data up to t only (numpy/xarray, no torch). Registering a (slot, name) that
    another plugin already provides is an error naming both plugins.
    """
