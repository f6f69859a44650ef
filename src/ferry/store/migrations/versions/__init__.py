"""Migration scripts, one per schema version; each is frozen once released."""
