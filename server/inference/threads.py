"""TRANSITIONAL: the real threading and queue modules now live in server/jobs.py."""

from server.jobs import queue, threading

__all__ = ["queue", "threading"]
