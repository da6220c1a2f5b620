"""Annotate and detect propaganda, repeated passages and framing in news text.

The flow (see README): documents -> pre-annotations -> Label Studio -> corpus -> model
-> metrics / scores. Every stage is a plain function; `annotate.cli` is a thin shell.
"""

__version__ = "0.1.0"
