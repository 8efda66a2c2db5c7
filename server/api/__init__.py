"""HTTP blueprints. Each module has `bp` and may have `init(ctx)`, called at start-up."""
