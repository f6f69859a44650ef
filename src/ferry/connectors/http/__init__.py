"""connectors/http."""
