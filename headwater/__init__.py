"""Headwater: a graph-native lineage service."""

__version__ = "0.1.0"
