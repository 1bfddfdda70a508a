"""A local twin of four asynchronous job APIs, on a virtual clock."""

from mockserver.app import create_app
from mockserver.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
