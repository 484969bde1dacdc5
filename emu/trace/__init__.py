"""Tracing: typed events and their recorder."""
from .events import Event, Recorder

__all__ = ["Event", "Recorder"]
