"""mathverify: verifier-guided math reasoning over JSONL.

The library is organised by pipeline stage (generate, label, train, search, eval); the
command line in :mod:`mathverify.cli` is a thin layer over it.
"""

__version__ = "0.1.0"
