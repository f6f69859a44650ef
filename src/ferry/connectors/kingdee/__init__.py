"""connectors/kingdee."""
