"""Specs: frozen attrs sections read from TOML, validated before anything is built."""

from __future__ import annotations

from zoo.specs.data import DataSpec
from zoo.specs.enhance import EnhanceSpec
from zoo.specs.evaluate import EvalSpec
from zoo.specs.experiment import ExperimentSpec
from zoo.specs.loader import (
    apply_overrides,
    canonical_dict,
    canonical_toml,
    converter,
    flatten,
    load_section,
    load_spec,
    loads_spec,
    read_raw,
    spec_hash,
    variant_name,
)
from zoo.specs.model import BranchSpec, ComponentRef, ModelSpec
from zoo.specs.train import TrainSpec

__all__ = [
    "BranchSpec",
    "ComponentRef",
    "DataSpec",
    "EnhanceSpec",
    "EvalSpec",
    "ExperimentSpec",
    "ModelSpec",
    "TrainSpec",
    "apply_overrides",
    "canonical_dict",
    "canonical_toml",
    "converter",
    "flatten",
    "load_section",
    "load_spec",
    "loads_spec",
    "read_raw",
    "spec_hash",
    "variant_name",
]
