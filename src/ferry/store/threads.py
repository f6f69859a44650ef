"""The async facade's worker threads: a call handed to a thread, its answer handed back to the event
loop that asked.

``loop.run_in_executor`` does the same through a ``concurrent.futures`` future (a condition and a
lock each), a work item and two futures chained by callbacks, and it may wake another idle thread for
each call: 1.1 to 1.7 times the CPU of a hop here (``bench/bench_hop.py`` prints both), paid once per
page collected and once per batch dispatched. Here a call is one queue entry and its answer one
``call_soon_threadsafe``, and a thread counts itself idle before it answers, so a caller that waits
for each answer is served by one thread.

Like the executor it replaces: at most ``size`` threads, started as calls wait for one; a call whose
future was cancelled before it started never runs; a call that runs is finished before the
interpreter exits (its answer may be a ledger write that must land), and then the threads end; the
threads of one that nobody keeps end when it is collected.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class Threads:
    """At most ``size`` threads named ``{name}_{n}`` running calls for event loops."""

    def __init__(self, size: int, name: str) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size!r}")
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        #: threads waiting for a call that no call has been handed to yet
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False
        _LIVE.add(self)

    def call(self, fn: Callable[[], R]) -> asyncio.Future[R]:
        """``fn()`` on one of the threads; the future (of the running loop) takes its answer."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: cannot take calls after shutdown")
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self.size:
                # the thread holds only a weak reference: a facade nobody keeps (nor closed) ends its
                # threads when it is collected, as an executor does
                jobs = self._jobs
                ref = weakref.ref(self, lambda _: jobs.put(None))
                thread = threading.Thread(
                    target=_work, args=(ref, jobs), name=f"{self.name}_{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._jobs.put((loop, future, fn))
        return future

    def shutdown(self, *, wait: bool = False) -> None:
        """Take no more calls; each thread ends once the calls queued before are done (``wait``:
        return only then)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                for _ in self._threads:
                    self._jobs.put(None)
            threads = list(self._threads)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()


def _work(ref: weakref.ref[Threads], jobs: queue.SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        loop, future, fn = job
        result: Any = None
        error: BaseException | None = None
        runs = not future.cancelled()
        if runs:
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, as the executor would
                error = exc
        # idle before the answer: the caller's next call (the next batch's) finds this thread
        # waiting instead of starting another, so one thread serves a caller that waits for each
        # answer, and no other CPU has to be woken
        threads = ref()
        if threads is not None:
            with threads._lock:
                threads._idle += 1
            del threads
        if runs:  # a future cancelled while the call ran drops the answer (_settle)
            _answer(loop, future, result, error)
        del job, loop, future, fn, result, error


def _answer(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, exc: BaseException | None
) -> None:
    # a loop that closed meanwhile raises RuntimeError: nobody waits for this answer
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, result, exc)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():  # cancelled while the call ran: the answer is dropped
        return
    if exc is None:
        future.set_result(result)
    else:
        future.set_exception(exc)


_LIVE: weakref.WeakSet[Threads] = weakref.WeakSet()


@atexit.register
def _finish_running_calls() -> None:
    # the threads are daemons, so an unclosed facade never holds the interpreter open; a call still
    # running finishes first (atexit runs before daemon threads are stopped)
    for threads in list(_LIVE):
        threads.shutdown(wait=True)


__all__ = ["Threads"]
