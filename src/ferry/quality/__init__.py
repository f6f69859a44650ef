"""Declarative data-quality rules and anomaly checks on records. May use :mod:`ferry.expr`."""
