"""Threads: the async facade's worker threads behave as the executor they replace."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
import time

import pytest

from ferry.store.threads import Threads


async def test_answers_and_errors_come_back_to_the_caller() -> None:
    threads = Threads(2, "t")
    assert await threads.call(lambda: threading.current_thread().name) in ("t_0", "t_1")

    def fails() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        await threads.call(fails)
    threads.shutdown(wait=True)


async def test_no_more_threads_than_its_size_however_many_calls_wait() -> None:
    threads = Threads(3, "t")
    running: set[str] = set()
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal most
        with lock:
            running.add(threading.current_thread().name)
            most = max(most, len(running))
        time.sleep(0.01)
        with lock:
            running.discard(threading.current_thread().name)

    await asyncio.gather(*(threads.call(work) for _ in range(20)))
    assert most == 3
    assert len({t.name for t in threads._threads}) == 3
    threads.shutdown(wait=True)


async def test_a_call_cancelled_before_it_starts_never_runs() -> None:
    threads = Threads(1, "t")
    gate = threading.Event()
    ran: list[str] = []
    first = threads.call(lambda: gate.wait(5))
    second = threads.call(lambda: ran.append("second"))
    second.cancel()
    gate.set()
    assert await first is True
    await threads.call(lambda: None)  # the queue has moved past the cancelled call
    assert ran == []
    threads.shutdown(wait=True)


async def test_after_shutdown_no_call_is_taken_and_queued_ones_finish() -> None:
    threads = Threads(1, "t")
    done: list[int] = []
    calls = [threads.call(lambda i=i: done.append(i)) for i in range(5)]
    threads.shutdown(wait=True)
    assert done == [0, 1, 2, 3, 4]
    await asyncio.gather(*calls)
    with pytest.raises(RuntimeError, match="after shutdown"):
        threads.call(lambda: None)


def test_an_answer_for_a_loop_that_closed_is_dropped() -> None:
    threads = Threads(1, "t")
    gate = threading.Event()
    loop = asyncio.new_event_loop()

    async def ask() -> asyncio.Future[bool]:
        return threads.call(lambda: gate.wait(5))

    loop.run_until_complete(ask())
    loop.close()
    gate.set()
    threads.shutdown(wait=True)  # the thread answered a closed loop without failing
    assert not threads._threads[0].is_alive()


def test_a_running_call_finishes_before_the_interpreter_exits() -> None:
    code = (
        "import asyncio, time\n"
        "from ferry.store.threads import Threads\n"
        "threads = Threads(1, 't')\n"
        "def slow():\n"
        "    time.sleep(0.3)\n"
        "    print('finished', flush=True)\n"
        "async def main():\n"
        "    threads.call(slow)\n"
        "    await asyncio.sleep(0.05)\n"
        "asyncio.run(main())\n"
        "print('exiting', flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["exiting", "finished"]


async def test_a_caller_that_waits_for_each_answer_is_served_by_one_thread() -> None:
    threads = Threads(4, "t")
    names = {await threads.call(lambda: threading.current_thread().name) for _ in range(200)}
    assert names == {"t_0"} and len(threads._threads) == 1
    threads.shutdown(wait=True)


async def test_threads_nobody_keeps_end_when_they_are_collected() -> None:
    threads = Threads(2, "gone")
    await threads.call(lambda: None)
    (worker,) = threads._threads
    del threads
    gc.collect()
    worker.join(5)
    assert not worker.is_alive()
