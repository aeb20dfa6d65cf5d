"""The one generic model every spec composes: decomposition -> branches -> fusion -> norm -> trunk -> head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from zoo.errors import RegistryError
from zoo.interfaces import DECOMPOSITION, DEFAULT_FUSION, ENCODER, FUSION, HEAD, MIXER, Context

if TYPE_CHECKING:  # the specs need cattrs; composing a model from plain objects does not (bench_gpu)
    from zoo.registry import Registry
    from zoo.specs.model import ComponentRef, ModelSpec


class EncoderStack(nn.Sequential):
    """Encoder stages run one after the other; ``out_features`` is the last stage's width."""

    def __init__(self, stages: Sequence[nn.Module], in_features: int) -> None:
        super().__init__(*stages)
        self.out_features = stages[-1].out_features if stages else in_features


def build_encoder(refs: Sequence[ComponentRef], in_features: int, registry: Registry) -> EncoderStack:
    """Build a stage list (``patch_conv`` then ``gru`` …) into one encoder."""
    stages, width = [], in_features
    for ref in refs:
        stage = registry.build(ENCODER, ref.name, ref.params, width)
        if not isinstance(getattr(stage, "out_features", None), int):
            raise RegistryError(
                f"encoder {ref.name!r} must expose an int 'out_features' (its output width d)"
            )
        stages.append(stage)
        width = stage.out_features
    return EncoderStack(stages, in_features)


def per_stock(module: nn.Module, x: torch.Tensor, chunk_size: int | None) -> torch.Tensor:
    """Run a per-stock module over blocks of ``chunk_size`` stocks (exact: stocks do not interact there).

    Smaller blocks keep a GRU's working set in cache; the result is identical to one call.
    """
    if not chunk_size or x.shape[0] <= chunk_size:
        return module(x)
    return torch.cat([module(block) for block in torch.split(x, chunk_size)])


class Branch(nn.Module):
    """One decomposition component's path: encoder stack, then cross-sectional mixer."""

    def __init__(self, encoder: EncoderStack, mixer: nn.Module, input: str) -> None:
        super().__init__()
        self.encoder, self.mixer = encoder, mixer
        #: The decomposition component this branch reads.
        self.input = input

    def forward(
        self, x: torch.Tensor, ctx: Context | None = None, chunk_size: int | None = None
    ) -> torch.Tensor:
        """``(N,T,F) -> (N,T',d)``."""
        return self.mixer(per_stock(self.encoder, x, chunk_size), ctx)


def stockwise(module: nn.Module) -> bool:
    """Whether a mixer or fusion treats every stock on its own (its class sets ``stockwise = True``)."""
    return bool(getattr(module, "stockwise", False))


def block_ctx(ctx: Context | None, n: int, block: slice) -> Context | None:
    """``ctx`` for the stocks ``block`` of a day of ``n``: per-stock tensors sliced, the rest kept."""
    if ctx is None:
        return None
    return {k: v[block] if v.ndim and v.shape[0] == n else v for k, v in ctx.items()}


class ZooModel(nn.Module):
    """A composed factor model: ``forward(x (N,T,F), ctx) -> scores (N,)``."""

    #: Run the per-stock parts (encoders, norm, trunk, head) over blocks of this many stocks (None: all at
    #: once). Measured on a 2-core CPU, DecompGRU at N = 5,000: a train step 2.1-2.5 s -> 1.5 s.
    #: Applies on the CPU only: on a GPU the day runs unblocked (blocks only add kernel launches).
    chunk_size: int | None = 1000
    #: The block size without autograd (validation, test, prediction), where blocks change no number:
    #: every per-stock output is the same at any block size, and no gradient sums over blocks.
    #: ``bench/bench_inference.py`` measured 256 among the fastest on one CPU thread (results/sampling/).
    eval_chunk_size: int | None = 256
    #: Without autograd, run the stock-wise branches, the fusion, norm, trunk and head block by block in
    #: one pass (no day-sized intermediate); with autograd each stage runs over the whole day as before.
    fuse_stockwise: bool = True

    def __init__(
        self,
        decomposition: nn.Module,
        branches: dict[str, Branch],
        norm: nn.Module,
        trunk: EncoderStack,
        head: nn.Module,
        fusion: nn.Module,
    ) -> None:
        super().__init__()
        self.decomposition = decomposition
        self.branches = nn.ModuleDict(branches)
        self.fusion = fusion
        self.norm, self.trunk, self.head = norm, trunk, head

    def forward(self, x: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        """Score one day's cross-section ``x (N,T,F)``."""
        # Blocks keep a CPU's cache warm; a GPU runs the whole day best as one batch per kernel.
        training = torch.is_grad_enabled()
        chunk = None
        if x.device.type == "cpu":
            chunk = self.chunk_size if training else self.eval_chunk_size
        parts = self.decomposition(x)
        if not training and self.fuse_stockwise and chunk and x.shape[0] > chunk and stockwise(self.fusion):
            return self._blockwise(parts, ctx, x.shape[0], chunk)
        outputs = {name: branch(parts[branch.input], ctx, chunk) for name, branch in self.branches.items()}
        fused = self.fusion(outputs, ctx)
        return per_stock(self._tail, fused, chunk)

    def _tail(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(self.norm(h)))

    def _blockwise(self, parts: dict, ctx: Context | None, n: int, chunk: int) -> torch.Tensor:
        """Branches that mix stocks over the whole day; then the rest of the model one block at a time."""
        crossed = {
            name: branch(parts[branch.input], ctx, chunk)
            for name, branch in self.branches.items()
            if not stockwise(branch.mixer)
        }
        scores = []
        for start in range(0, n, chunk):
            block = slice(start, start + chunk)
            sub = block_ctx(ctx, n, block)
            outputs = {
                name: crossed[name][block] if name in crossed else branch(parts[branch.input][block], sub)
                for name, branch in self.branches.items()
            }
            scores.append(self._tail(self.fusion(outputs, sub)))
        return torch.cat(scores)


def build_model(spec: ModelSpec, in_features: int, registry: Registry | None = None) -> ZooModel:
    """Build the model a (resolved) model spec describes, every component through the registry."""
    if registry is None:
        from zoo.registry import get_registry

        registry = get_registry()
    estimator = spec.estimator
    if estimator is not None or spec.decomposition is None:
        raise RegistryError(
            f"the model is an estimator ({estimator.name if estimator else 'none'}), not a "
            f"network; zoo.train.classic fits it (zoo train SPEC)"
        )
    decomposition = registry.build(
        DECOMPOSITION, spec.decomposition.name, spec.decomposition.params, in_features
    )
    branches: dict[str, Branch] = {}
    widths = {}
    for name, branch_spec in spec.branches.items():
        if not branch_spec.enabled:
            continue
        component = branch_spec.input or name
        if component not in decomposition.components:
            raise RegistryError(
                f"branch {name!r} reads {component!r}, but decomposition {spec.decomposition.name!r} has "
                f"{decomposition.components}"
            )
        encoder = build_encoder(branch_spec.encoder, in_features, registry)
        mixer = registry.build(MIXER, branch_spec.mixer.name, branch_spec.mixer.params, encoder.out_features)
        branches[name] = Branch(encoder, mixer, component)
        widths[name] = encoder.out_features
    if len(set(widths.values())) > 1:
        raise RegistryError(
            f"branch widths differ {widths}; branches meet in the fusion: give them one width"
        )
    width = next(iter(widths.values()))
    fusion_ref = spec.fusion  # None: the default sum
    if fusion_ref is None:
        fusion_name = DEFAULT_FUSION
        config = registry.get(FUSION, fusion_name).config()  # its defaults: no cattrs needed (bench_gpu)
    else:
        fusion_name = fusion_ref.name
        config = registry.make_config(FUSION, fusion_name, fusion_ref.params)
    if hasattr(config, "check"):
        config.check(tuple(branches))
    fusion = registry.build(FUSION, fusion_name, config, width)
    norm = nn.LayerNorm(width) if spec.norm == "layernorm" else nn.Identity()
    trunk = build_encoder(spec.trunk, width, registry)
    head = registry.build(HEAD, spec.head.name, spec.head.params, trunk.out_features)
    return ZooModel(decomposition, branches, norm, trunk, head, fusion)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
