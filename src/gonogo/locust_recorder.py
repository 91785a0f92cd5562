"""Inside Locust: every request into a per-second histogram, merged on the master, one JSON out.

Imported only by Locust processes (a locustfile, or `-f .../locust_recorder.py,user.py`): importing
Locust monkey-patches the interpreter with gevent, which must never happen to a pytest process.

Locust's own statistics keep coarse percentiles and no per-second latency; the KPIs need both, so
each process records `gonogo.latency.Histogram`s keyed by (wall-clock second, name, method). Keying
by the wall clock means no start time has to travel between processes: all processes of one machine
share it, and the machines of a distributed run are expected to keep NTP time. In the results,
slice `t` is the wall-clock second `int(started_at) + t`, so the first slice is a partial second.

Workers ship their slices every second as a custom message (Locust's own report comes every 3 s,
too late for a per-second progress line); on stop the master asks each worker to stop its users and
send the rest, and waits for those finals before writing, since Locust's quit waits only 0.5 s.

Environment: GONOGO_LOAD_RESULTS (where the master writes the document; unset, nothing is
written), GONOGO_LOAD_PLANNED_S, GONOGO_LOAD_DOWN_AFTER_S (default 10).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import events, log
from locust.env import Environment
from locust.event import EventHook
from locust.exception import RPCError
from locust.rpc import Message
from locust.runners import MasterRunner, Runner, WorkerRunner

from gonogo.latency import Histogram

__all__ = ["PROGRESS_PREFIX"]

PROGRESS_PREFIX = "gonogo load:"
_SLICES = "gonogo_slices"
_FLUSH = "gonogo_flush"


@dataclass
class _Slice:
    histogram: Histogram = field(default_factory=Histogram)
    failures: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # "0": no response at all


class _Slices:
    """Slices by second, then (name, method): the progress tick reads one second at a time."""

    def __init__(self) -> None:
        self._seconds: dict[int, dict[tuple[str, str], _Slice]] = {}

    def __bool__(self) -> bool:
        return bool(self._seconds)

    def record(
        self, second: int, name: str, method: str, *, ms: float, failed: bool, status: int
    ) -> None:
        piece = self._slice(second, name, method)
        piece.histogram.record(ms)
        piece.failures += failed
        piece.statuses[str(status)] += 1

    def merge_rows(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            piece = self._slice(int(row["t"]), str(row["name"]), str(row["method"]))
            piece.histogram.merge(Histogram.from_dict(row["histogram"]))
            piece.failures += int(row["failures"])
            piece.statuses.update(row["statuses"])

    def rows(self, origin: int = 0) -> list[dict[str, Any]]:
        """The results' (and the wire's) form; `t` counted from `origin`."""
        return [
            {
                "t": second - origin,
                "name": name,
                "method": method,
                "histogram": piece.histogram.to_dict(),
                "failures": piece.failures,
                "statuses": dict(piece.statuses),
            }
            for second, pieces in sorted(self._seconds.items())
            for (name, method), piece in sorted(pieces.items())
        ]

    def drain(self) -> list[dict[str, Any]]:
        rows = self.rows()
        self._seconds = {}
        return rows

    def second(self, second: int) -> _Slice:
        """All requests of one second together."""
        total = _Slice()
        for piece in self._seconds.get(second, {}).values():
            total.histogram.merge(piece.histogram)
            total.failures += piece.failures
            total.statuses.update(piece.statuses)
        return total

    def _slice(self, second: int, name: str, method: str) -> _Slice:
        return self._seconds.setdefault(second, {}).setdefault((name, method), _Slice())


def _record(
    slices: _Slices,
    *,
    request_type: str,
    name: str,
    response_time: float | None,
    response: Any,
    exception: BaseException | None,
    **_kwargs: Any,
) -> None:
    """One `events.request`; a response without a status (a connection error) counts as "0"."""
    slices.record(
        int(time.time()),
        name,
        request_type,
        ms=float(response_time or 0),
        failed=exception is not None,
        status=getattr(response, "status_code", None) or 0,
    )


class _Worker:
    """Records; ships what it has every second; asked to flush, stops its users, sends the rest."""

    def __init__(self, runner: WorkerRunner) -> None:
        self.runner = runner
        self.slices = _Slices()
        runner.register_message(_FLUSH, self._on_flush, concurrent=True)
        gevent.spawn(self._ship_every_second)

    def ship(self, final: bool) -> None:
        rows = self.slices.drain()
        try:
            self.runner.send_message(_SLICES, {"slices": rows, "final": final})
        except RPCError:  # the master is unreachable for now: keep them for the next try
            self.slices.merge_rows(rows)

    def stop_and_ship(self, **_kwargs: Any) -> None:
        """Final only once no user is left: requests in flight finish within the stop timeout,
        and a stop already under way (a signal and the master's flush can overlap) returns
        before its users are gone."""
        self.runner.stop()
        deadline = time.monotonic() + (self.runner.environment.stop_timeout or 0) + 1
        while self.runner.user_count and time.monotonic() < deadline:
            gevent.sleep(0.05)
        self.ship(final=True)

    def _on_flush(self, **_kwargs: Any) -> None:
        self.stop_and_ship()

    def _ship_every_second(self) -> None:
        while True:
            gevent.sleep(1)
            if self.slices:
                self.ship(final=False)


class _Collector:
    """The master's (or a local run's) view: merges, prints progress, stops a dead run, writes."""

    def __init__(self, environment: Environment, runner: Runner) -> None:
        self.environment = environment
        self.runner = runner
        self.master = runner if isinstance(runner, MasterRunner) else None
        self.slices = _Slices()
        self.planned_s = float(os.environ.get("GONOGO_LOAD_PLANNED_S", "0"))
        self.down_after_s = float(os.environ.get("GONOGO_LOAD_DOWN_AFTER_S", "10"))
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.stop_reason: str | None = None
        self.down_since: int | None = None
        self.workers: set[str] = set()
        self.finals: set[str] = set()
        self.settled = False
        self.quitting = False
        if self.master:
            self.master.register_message(_SLICES, self._on_slices)
        gevent.spawn(self._tick_every_second)

    def on_test_start(self, **_kwargs: Any) -> None:
        if self.started_at is None:
            self.started_at = time.time()

    def on_test_stop(self, **_kwargs: Any) -> None:
        if self.stopped_at is None:
            self.stopped_at = time.time()
        if self.master:
            self.settle()

    def settle(self) -> None:
        """Let the requests in flight finish into the slices: a local runner stops its users
        (gracefully, within the stop timeout); a master asks every worker to do so and to send
        the rest, and waits for those finals (bounded by the stop timeout too)."""
        if self.master is None:
            self.runner.stop()
            return
        if self.settled:
            return
        self.settled = True
        # Dispatching ends first: a worker that stops must not have its users moved to the rest.
        self.master.stop(send_stop_to_client=False)
        self.workers |= {worker.id for worker in self.master.clients.all}
        self.master.send_message(_FLUSH)
        deadline = time.monotonic() + (self.environment.stop_timeout or 0) + 3
        while not self.workers <= self.finals and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def on_quitting(self, **_kwargs: Any) -> None:
        """Once: after a signal's shutdown, the last worker quitting makes Locust quit again."""
        if self.quitting:
            return
        self.quitting = True
        reason = self._stop_reason()
        self.settle()
        path = os.environ.get("GONOGO_LOAD_RESULTS")
        if path:
            _write_atomically(Path(path), self._document(reason))

    def _on_slices(self, msg: Message, **_kwargs: Any) -> None:
        self.workers.add(msg.node_id)
        self.slices.merge_rows(msg.data["slices"])
        if msg.data["final"]:
            self.finals.add(msg.node_id)

    def _tick_every_second(self) -> None:
        while True:
            gevent.sleep(1)
            if self.started_at is not None:
                self._tick(self.started_at)

    def _tick(self, started_at: float) -> None:
        """Judge the last settled second: a worker's second arrives up to 2 s late, a local one
        is complete as soon as it ends."""
        second = int(time.time()) - (2 if self.master else 1)
        total = self.slices.second(second)
        count = total.histogram.count
        elapsed = int(time.time() - started_at)
        sys.stderr.write(
            f"{PROGRESS_PREFIX} {elapsed}/{self.planned_s:g} s, {count} req/s, "
            f"p95 {total.histogram.percentile(0.95):.1f} ms, "
            f"errors {total.failures / count * 100 if count else 0:.2f} %\n"
        )
        sys.stderr.flush()
        if count > total.statuses["0"]:  # something answered
            self.down_since = None
        elif count and self.down_since is None:
            self.down_since = second
        down_for = 0 if self.down_since is None else second - self.down_since + 1
        if down_for >= self.down_after_s and self.stop_reason is None:
            self.stop_reason = "target_down"
            gevent.spawn(self.runner.quit)  # not from this greenlet: quit kills the runner's

    def _stop_reason(self) -> str:
        """Locust stops a run (firing test_stop) before it quits, whether the run time, the
        shape or a lost worker ended it; quitting without that is a signal's doing."""
        if self.stop_reason:
            return self.stop_reason
        if log.unhandled_greenlet_exception:
            return "error"
        if self.stopped_at is None:
            return "interrupted"
        ran_s = self.stopped_at - (self.started_at or self.stopped_at)
        return "duration" if ran_s >= self.planned_s - 1 else "error"

    def _document(self, reason: str) -> dict[str, Any]:
        started = self.started_at or time.time()
        return {
            "format": 1,
            "started_at": started,
            "ended_at": time.time(),
            "planned_s": self.planned_s,
            "stop_reason": reason,
            "workers": len(self.workers) if self.master else 1,
            "slices": self.slices.rows(origin=int(started)),
        }


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    """A reader never sees half a document: write aside, then rename over."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document), encoding="utf-8")
    os.replace(partial, path)


def _on_init(environment: Environment, runner: Runner | None = None, **_kwargs: Any) -> None:
    hooks = environment.events
    if isinstance(runner, WorkerRunner):
        worker = _Worker(runner)
        _listen(hooks.request, functools.partial(_record, worker.slices))
        # Registered after the runner's own, so (fired in reverse) before it tells the master
        # it quits: a worker interrupted by a signal still delivers its last slices.
        _listen(hooks.quitting, worker.stop_and_ship)
    elif runner is not None:
        collector = _Collector(environment, runner)
        if collector.master is None:
            _listen(hooks.request, functools.partial(_record, collector.slices))
        _listen(hooks.test_start, collector.on_test_start)
        _listen(hooks.test_stop, collector.on_test_stop)
        _listen(hooks.quitting, collector.on_quitting)


def _listen(hook: EventHook, handler: Callable[..., Any]) -> None:
    hook.add_listener(handler)  # type: ignore[no-untyped-call]  # unannotated in Locust


if __name__ == "gonogo.locust_recorder":
    _listen(events.init, _on_init)
else:  # loaded by path (`-f .../locust_recorder.py,...`): register once, as the package module
    importlib.import_module("gonogo.locust_recorder")
