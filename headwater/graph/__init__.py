"""Lineage graph layer: vocabulary and engine interface (model, engine), the embedded engine
(memory) and the networkx reference (oracle). Only the Neo4j engine talks to a server."""
