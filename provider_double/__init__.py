"""A local stand-in for the OpenAI Images API and fal.ai's queue API, with scripted faults."""

from __future__ import annotations

from .server import ProviderDouble
from .wire import FAULTS

__all__ = ["FAULTS", "ProviderDouble"]
