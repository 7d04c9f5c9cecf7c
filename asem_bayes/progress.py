"""Progress of long steps (compiling, sampling) as plain lines, for terminals and for logs.

A sampler's progress bar redraws one terminal line; written to a file (``nohup``, a batch job) it
shows nothing or a smear of carriage returns. :func:`stage` writes a timestamped line when a step
starts and when it ends (with its duration) and, when the stream is not a terminal, a line every
``every`` seconds while it runs, so a log shows what a job is doing. After a progress bar it
ends the bar's line, so what is printed next starts on a line of its own.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["is_terminal", "stage", "duration"]


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default ``sys.stderr``) is an interactive terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"`` or ``"1 h 02 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _line(stream: TextIO, text: str) -> None:
    stream.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
    stream.flush()


def _heartbeat(stop: threading.Event, stream: TextIO, what: str, t0: float, every: float) -> None:
    while not stop.wait(every):
        _line(stream, f"{what}: running for {duration(time.perf_counter() - t0)}")


@contextmanager
def stage(
    what: str,
    *,
    enabled: bool = True,
    every: float = 60.0,
    bar: bool = False,
    stream: TextIO | None = None,
) -> Iterator[None]:
    """Report a long step on ``stream`` (default ``sys.stderr``): start, heartbeat, end.

    Parameters
    ----------
    what : str
        The step in words, e.g. ``"sampling 'asem': 4 chains x (1000 warm-up + 1000 draws)"``.
    enabled : bool
        Report at all (``False``: a silent step).
    every : float
        Seconds between "running for ..." lines when the stream is not a terminal (0: none).
    bar : bool
        The step draws a progress bar on a terminal: its line is ended before the end line.
    stream : file-like or None
        Where to write (default ``sys.stderr``, read when the step starts).
    """
    if not enabled:
        yield
        return
    stream = stream if stream is not None else sys.stderr
    tty = is_terminal(stream)
    t0 = time.perf_counter()
    _line(stream, f"{what} ...")
    stop = threading.Event()
    beat = None
    if not tty and every > 0:
        beat = threading.Thread(target=_heartbeat, args=(stop, stream, what, t0, every), daemon=True)
        beat.start()
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        if beat is not None:
            beat.join()
        if bar and tty:
            stream.write("\n")  # a progress bar may leave its last line open
        _line(stream, f"{what}: {'done' if ok else 'stopped'} after {duration(time.perf_counter() - t0)}")
