"""Built-in specs and studies (TOML), installed as ``zoo.builtin_specs``; found by name (``zoo.catalog``)."""
