"""The engine: collect, dispatch, reconcile, schedule. Uses scheme, expr, connectors, store, quality, observe."""
