"""What one system test works with: the session's Temporal server, its own task queue, workers and CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import Operator, TemporalServer, Worker


@dataclass
class Stack:
    """What one system test works with: the server, its worker(s), and the operator's CLI."""

    server: TemporalServer
    task_queue: str
    directory: Path
    cli: Operator
    workers: list[Worker]

    @property
    def state_dir(self) -> Path:
        """The sandbox providers' state, shared by every worker of this test (like one real fleet)."""
        return self.directory / "sandbox"

    def worker(self, *args: str) -> Worker:
        """Start another ``ringctl worker`` process on this test's task queue."""
        log = self.directory / f"worker-{len(self.workers) + 1}.log"
        worker = Worker(self.server.address, self.task_queue, self.state_dir, log, args).start()
        self.workers.append(worker)
        return worker
