"""Progress of a probe round on stderr: a tqdm bar on a terminal (calls done, failed, rate,
ETA), plain lines every ``PLAIN_EVERY_S`` seconds otherwise (a log file or CI), so a long round
or a provider that is down is never silent."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

PLAIN_EVERY_S = 10.0


def _eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class RoundProgress:
    """Called by the runner with (done, total, failed) after each call and once a second."""

    def __init__(self, target: str, *, stream: IO[str] | None = None, tty: bool | None = None,
                 every_s: float = PLAIN_EVERY_S, clock: Any = time.monotonic) -> None:
        self.target = target
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s, self.clock = every_s, clock
        self.t0 = clock()
        self.last_line = self.t0
        self.bar: Any = None
        self.closed = False

    def __call__(self, done: int, total: int, failed: int) -> None:
        if self.closed:
            return
        if self.tty:
            self._bar(done, total, failed)
        else:
            now = self.clock()
            if done == total or now - self.last_line >= self.every_s:
                self.last_line = now
                self.stream.write(self.line(done, total, failed, now - self.t0) + "\n")
                self.stream.flush()
        if done == total:
            self.close()

    def line(self, done: int, total: int, failed: int, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = _eta((total - done) / rate) if rate > 0 and done < total else "?"
        if done == total:
            eta = "done"
        return (f"probe {self.target}: {done}/{total} calls, {failed} failed, "
                f"{rate:.1f}/s, {_eta(elapsed)} elapsed, ETA {eta}")

    def _bar(self, done: int, total: int, failed: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.target, unit="call", file=self.stream,
                            dynamic_ncols=True, leave=True)
        self.bar.n = done
        self.bar.set_postfix(failed=failed, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.closed = True
