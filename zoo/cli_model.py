"""``zoo list`` and ``zoo show``: what the registry holds and what a spec composes."""

from __future__ import annotations

from pathlib import Path

import typer

from zoo.cli_common import SET_OPTION_HELP, plugins_of


def _list(
    ctx: typer.Context,
    slot: str = typer.Argument(
        None,
        help="Only this slot: decomposition, encoder, mixer, head, loss, estimator or factor; "
        "'specs' lists the built-in specs and studies instead.",
    ),
    pattern: str = typer.Option("*", "--filter", "-f", help="Wildcard on names, e.g. '*demean'."),
) -> None:
    """List every registered component with its config fields, defaults and origin (or: zoo list specs)."""
    from zoo.registry import get_registry

    if slot in (SPECS, "studies"):
        _list_builtins(pattern)
        return
    registry = get_registry(plugins_of(ctx))
    current = None
    for comp in registry.list(slot, pattern):
        if comp.slot != current:
            current = comp.slot
            typer.secho(f"[{comp.slot}]", bold=True)
        typer.echo(f"  {comp.name:<16} {comp.doc}  (from {comp.origin})")
        for name, typ, default in comp.fields():
            typer.echo(f"      {name}: {typ} = {default!r}")
    for where, why in registry.broken.items():
        typer.secho(f"skipped {where}: {why}", fg=typer.colors.YELLOW, err=True)


#: ``zoo list specs``: the built-in specs and studies instead of a component slot.
SPECS = "specs"


def _list_builtins(pattern: str) -> None:
    """Print each built-in spec and study with its one-line description (timm's ``list_models``)."""
    from zoo import catalog

    for kind, title in (
        ("spec", "[specs]  zoo show NAME / zoo train NAME"),
        ("study", "[studies]  zoo study NAME"),
    ):
        typer.secho(title, bold=True)
        for b in catalog.list_builtins(kind, pattern):
            typer.echo(f"  {b.name:<30} {b.description}")
    typer.echo(f"(files in {catalog.builtin_dir()}; a path to your own TOML works wherever a name does)")


def _show(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="Spec TOML file or built-in name (zoo list specs)."),
    set_: list[str] = typer.Option([], "--set", help=SET_OPTION_HELP),
    toml: bool = typer.Option(
        False, "--toml", help="Print the canonical spec on stdout (everything else goes to stderr)."
    ),
) -> None:
    """Print the composed module tree of SPEC and its parameter count (an estimator and its features)."""
    from zoo.compose import build_model, count_parameters
    from zoo.registry import get_registry
    from zoo.specs import canonical_toml, load_spec, spec_hash

    plugins = plugins_of(ctx)
    loaded = load_spec(spec, overrides=set_, plugins=plugins)
    registry = get_registry(plugins + loaded.plugins)
    estimator = loaded.model.estimator
    if estimator is None:
        model = build_model(loaded.model, in_features=len(loaded.data.fields), registry=registry)
    # With --toml, stdout carries the TOML alone, so `zoo show SPEC --toml > f.toml` loads back.
    err = toml
    typer.echo(f"spec: {loaded.name} ({spec})  hash: {spec_hash(loaded)}", err=err)
    if toml:
        typer.echo(canonical_toml(loaded), nl=False)
    if estimator is not None:
        from zoo.datasets.features import FEATURES
        from zoo.interfaces import ESTIMATOR

        setup = registry.build(ESTIMATOR, estimator.name, estimator.params, len(FEATURES))
        typer.echo(str(setup.estimator), err=err)
        typer.echo(f"features ({len(FEATURES)}): {', '.join(FEATURES)}", err=err)
        return
    typer.echo(str(model), err=err)
    typer.echo(f"parameters: {count_parameters(model)}", err=err)


def register(app: typer.Typer) -> None:
    """Add ``list`` and ``show``."""
    app.command("list")(_list)
    app.command("show")(_show)
