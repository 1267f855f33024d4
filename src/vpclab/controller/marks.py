"""The mark a build holds from its very first instant (state/builds.py says why), in a module
light enough for the command line to take it before it imports the rest of the controller."""
from __future__ import annotations

from ..state.builds import marked

__all__ = ["marked"]
