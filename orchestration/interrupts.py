"""What a driver (a sweep, a compare) does on SIGTERM: what it does on Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigterm_as_sigint() -> Iterator[None]:
    """A driver stops gracefully on SIGINT (a sweep: trials stopped, Tune's state saved; a
    compare: its runs cancelled, their checkpoints kept); ray.init makes SIGTERM exit at once.
    A SIGTERM (a scheduler, `kill`) takes Ctrl-C's path."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
