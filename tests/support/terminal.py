"""Running ``ringctl`` on a terminal: a pseudo-terminal for its stdin, stdout and stderr, as a person's shell gives it.

For what ringctl does only on a terminal (the live tree of ``status --watch``, ``abort``'s
confirmation). Linux and macOS.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from tests.support.cli_runs import RINGCTL, ROOT

#: A terminal control sequence: colours, cursor moves, line erases.
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def without_controls(screen: str) -> str:
    """``screen`` as text: its control sequences removed, its line ends ``\\n``."""
    return _CONTROL.sub("", screen).replace("\r\n", "\n")


@dataclass
class OnTerminal:
    """A ``ringctl`` process on its own pseudo-terminal; :meth:`finish` collects what the terminal showed."""

    args: tuple[str, ...]
    env: Mapping[str, str]
    columns: int = 160
    rows: int = 60
    process: subprocess.Popen[bytes] = field(init=False)
    _master: int = field(init=False)
    _screen: bytearray = field(init=False, default_factory=bytearray)

    def __post_init__(self) -> None:
        self._master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.columns, 0, 0))
        environ = {**os.environ, "TERM": "xterm-256color", **self.env}
        for unset in ("COLUMNS", "LINES", "NO_COLOR", "CI"):
            environ.pop(unset, None)
        self.process = subprocess.Popen(
            [RINGCTL, *self.args], cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=environ, close_fds=True
        )
        os.close(slave)

    def type(self, text: str) -> None:
        """Type ``text`` on the terminal's keyboard."""
        os.write(self._master, text.encode())

    def read_until(self, text: str, timeout: float = 30) -> str:
        """What the terminal showed so far (:func:`without_controls`), once it shows ``text``."""
        deadline = time.monotonic() + timeout
        while text not in without_controls(self.screen()) and time.monotonic() < deadline:
            self._read(0.1)
        shown = without_controls(self.screen())
        assert text in shown, f"{text!r} not shown within {timeout} s:\n{shown}"
        return shown

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for the process to exit; its exit code and everything the terminal showed."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        if self.process.poll() is None:
            self.process.kill()
            raise AssertionError(f"ringctl {' '.join(self.args)} still running after {timeout} s:\n{self.screen()}")
        while self._read(0.1):
            pass
        os.close(self._master)
        return self.process.returncode, self.screen()

    def screen(self) -> str:
        """Everything written to the terminal, escape sequences included."""
        return self._screen.decode(errors="replace")

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self._master], [], [], wait)
        if not ready:
            return False
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: the process closed the terminal
            return False
        self._screen += chunk
        return bool(chunk)
