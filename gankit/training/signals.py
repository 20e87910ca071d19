"""Graceful stop: the first SIGINT/SIGTERM asks the loop to finish its step and checkpoint.

A second SIGINT (Ctrl-C) interrupts at once (the CLI exits with code 130).
"""

from __future__ import annotations

import signal
import threading


class GracefulStop:
    """Context manager; ``requested`` turns True on the first SIGINT or SIGTERM."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> "GracefulStop":
        # Handlers can only be installed from the main thread (not, e.g., in a worker thread).
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
