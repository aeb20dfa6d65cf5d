"""The ``[model]`` section: which component fills each slot of the generic model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from attrs import field, frozen, validators

NORMS = ("layernorm", "none")


@frozen(eq=True)
class ComponentRef:
    """A registered component by name, with its config params (TOML: ``{name = "gru", hidden = 64}``)."""

    name: str = field(validator=validators.instance_of(str))
    params: Mapping[str, Any] = field(factory=dict, converter=dict)


@frozen
class BranchSpec:
    """One branch: a decomposition component run through an encoder stage list, then a mixer."""

    encoder: tuple[ComponentRef, ...] = field(converter=tuple)
    mixer: ComponentRef = field(factory=lambda: ComponentRef("identity"))
    enabled: bool = True
    #: The decomposition component the branch reads; None: the one named like the branch. Set it to run
    #: two branches on one component (multi-scale patches of the raw series). Resolved specs keep None
    #: for the branch's own name, so the canonical form (and hash) of a spec without it is unchanged.
    input: str | None = None

    @encoder.validator
    def _encoder_not_empty(self, attribute: attrs.Attribute, value: tuple) -> None:
        if not value:
            raise ValueError('encoder must list at least one stage, e.g. [{name = "patch_conv"}]')


@frozen
class ModelSpec:
    """decomposition -> branches (encoder -> mixer) -> fusion -> norm -> trunk -> head; or one estimator.

    A classic trained baseline names only ``estimator`` (``[model] estimator = {name = "lightgbm"}``):
    it replaces the whole network, so the network keys must then be left out.
    """

    decomposition: ComponentRef | None = None
    branches: Mapping[str, BranchSpec] = field(factory=dict, converter=dict)
    #: Where: on the summed branch representations, before the trunk encoder (the report leaves it open).
    norm: str = field(default="layernorm", validator=validators.in_(NORMS))
    trunk: tuple[ComponentRef, ...] = field(factory=tuple, converter=tuple)
    head: ComponentRef = field(factory=lambda: ComponentRef("linear"))
    #: A registered ``estimator`` (LightGBM, ridge, ...) fitted on window features instead of a network.
    estimator: ComponentRef | None = None
    #: Where the branches meet (slot ``fusion``). None: ``sum``, the default; resolved specs hold None for
    #: ``sum`` however it was written, so the canonical form (and hash) of specs written before the
    #: fusion slot existed is unchanged and equal models hash equal.
    fusion: ComponentRef | None = None

    def __attrs_post_init__(self) -> None:
        if self.estimator is not None:
            network = self.decomposition is not None or self.branches or self.trunk
            if network or self.norm != "layernorm" or self.head != ComponentRef("linear"):
                raise ValueError(
                    "model.estimator replaces the network: leave out decomposition, branches, norm, "
                    "trunk and head (or drop estimator)"
                )
            return
        if self.decomposition is None:
            raise ValueError(
                'model needs a network (decomposition = {name = "identity"} and [model.branches.*]) '
                'or an estimator (estimator = {name = "lightgbm"})'
            )
        if not any(b.enabled for b in self.branches.values()):
            raise ValueError("at least one branch must be enabled")
