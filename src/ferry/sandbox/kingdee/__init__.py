"""sandbox/kingdee."""
