"""One module per provider, each defining `ADAPTER` (see providers.adapter.Adapter); found by the registry."""
