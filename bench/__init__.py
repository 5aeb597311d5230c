"""Headwater's benchmarks: a seeded synthetic lineage graph and every hot path measured side by
side with its baselines in one run (``python -m bench --scale tiny|medium|large``).

See ``bench/README.md`` for what each figure means and which write path produced it.
"""
