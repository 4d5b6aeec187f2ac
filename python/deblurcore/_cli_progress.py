"""Progress of a run on stderr: a tqdm bar on a terminal, plain lines otherwise.

When stderr is not a terminal (``nohup``, CI logs, a pipe) a bar's carriage returns make an
unreadable log, so one line is printed every ``interval`` seconds instead (the first one
``interval`` seconds after the start, so short runs print only their summary), with the frames
done, the rate and the estimated time left::

    deblurcore deblur: 12/240 frames (5%), 0.84 frames/s, ETA 4m31s
"""

from __future__ import annotations

import sys
import time

from ._cli_common import PROG

#: Seconds between two plain progress lines (the --progress-interval default).
DEFAULT_INTERVAL = 10.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


class PlainProgress:
    """A tqdm-like object (``update``, context manager) that prints plain lines."""

    def __init__(self, total: int | None, command: str, interval: float, stream=None) -> None:
        self.total, self.command, self.interval = total, command, interval
        self.stream = stream if stream is not None else sys.stderr
        self.count = 0
        self.start = time.monotonic()
        self.last_print = self.start

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        done = f"{self.count}/{self.total}" if self.total else f"{self.count}"
        text = f"{PROG} {self.command}: {done} frames"
        if self.total:
            text += f" ({100 * self.count // self.total}%)"
        text += f", {rate:.2f} frames/s"
        if self.total and rate > 0 and self.count < self.total:
            text += f", ETA {_duration((self.total - self.count) / rate)}"
        return text

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self.last_print >= self.interval:
            self.last_print = now
            print(self.line(), file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress(total: int | None, quiet: bool, command: str = "deblur",
             interval: float = DEFAULT_INTERVAL):
    """A tqdm bar when stderr is a terminal, :class:`PlainProgress` lines when it is not,
    nothing with ``quiet``."""
    if quiet or sys.stderr is None:
        return _Silent()
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit="frame", dynamic_ncols=True, file=sys.stderr,
                    desc=command, leave=True)
    return PlainProgress(total, command, interval)
