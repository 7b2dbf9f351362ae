"""Read in a forked child while this process writes what it reads: a report, and an extract, on two cores.

A plan report reads every item back (the scan, each payload decoded, each person's match explained)
and writes it (pseudonyms, the CSV, the capped lists). At a million accounts reading was 61% of the
report's 107 s and writing 36%, one after the other on one core (issue 15). With :func:`forked_rows`
a child process reads and this one writes what it sends, batch by batch: the same rows in the same
order, so the same bytes (tests/pipeline/test_forked_report.py). An extract does the same with a
source that says its read leaves nothing behind but its ``read_outcome`` (``Connector.reads_in_child``): the
child reads, this process stores, and each batch's rows are prepared by whichever of the two is ahead
(``lighter``: pipeline/extract.py).

The child is a fork: it has the store's engine and keys, the mapping's weights and whatever the
caller set up, without pickling any of it. Its engine drops the connections it inherited, unclosed
(they are the parent's), and opens its own: SQLAlchemy's advice for a fork. It ignores Ctrl-C (the
parent stops it), and a parent that dies takes it along at once (Linux's PR_SET_PDEATHSIG; elsewhere,
the broken pipe at its next batch). It leaves with ``os._exit``: nothing of the parent's (files,
atexit hooks) is flushed twice.

Errors: what the child raises is sent, and raised here as it was raised there (an ``OSError`` for a
full disk keeps its errno); a child that dies without a word (killed, out of memory) is a
:class:`ReaderProcessError`. Either way the caller's report is not written (its temporary files go),
or its extract stops where a re-run resumes.

Only where ``fork`` exists (Linux and the BSDs, where ent-migrate runs), and for a report only for
runs of at least :data:`FORK_MIN_ROWS` items: under that, starting a process costs more than it gives.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Generator, Iterator
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any, TypeVar

from sqlalchemy import Engine, event

from ent_migrate.errors import ReaderProcessError

__all__ = ["FORK_MIN_ROWS", "can_fork", "forked_rows", "round_trip"]

#: the fewest items a report reads in a child for (a fork and its pipe cost milliseconds; a report of
#: 10,000 items, half a second). The demo's run is over it: the CLI's end-to-end tests take this path.
FORK_MIN_ROWS = 10_000
_CHILD_CACHE_KIB = -2048  # PRAGMA cache_size of the child's connection (negative: KiB)
_BATCH = 1000  # rows a message: the pipe's cost is per message
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_AHEAD = 16  # messages the child may have queued for the pipe: a few MB, and the parent never waits on it
#: with fewer messages than this queued, the parent is keeping up: the child sends its next batch
#: ``lighter`` (the parent does that batch's packing work), so the slower side gets the lighter load
_LIGHTER_BELOW = 4

_S = TypeVar("_S")
_T = TypeVar("_T")


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def forked_rows(
    engine: Engine,
    produce: Callable[[], Iterator[_S]],
    pack: Callable[[_S], Any],
    unpack: Callable[[Any], _T],
    *,
    finish: Callable[[], Any],
    on_end: Callable[[Any], None],
    what: str = "the report's rows",
    lighter: tuple[Callable[[_S], Any], Callable[[Any], _T]] | None = None,
) -> Generator[_T, None, None]:
    """What ``produce()`` yields, produced in a forked child: each row ``pack``-ed there (to plain
    values, cheap to pickle) and ``unpack``-ed here. When the child's iterator is done, ``finish()``
    (there) gives a value that ``on_end`` receives (here) before this iterator ends: what the child's
    rows added up on the way. *what* the child reads, for the messages.

    *lighter*, a second (pack, unpack) pair that gives the same rows with less of the work done there:
    a batch the child makes while this process keeps up (fewer than :data:`_LIGHTER_BELOW` messages
    waiting) is packed with it, so whichever side is slower does less. Extract: a slow reader (AAF's
    XML) sends the records themselves and this process makes their rows; a fast one (a package's JSON
    Lines) makes the rows there."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    args = (engine, produce, pack, lighter[0] if lighter else None, finish, sender, receiver, what, os.getpid())
    child = context.Process(target=_child, args=args, daemon=True)
    # The idle connections closed: each held a page cache the earlier stages filled (SQLite's own heap
    # was 28 MiB at 100k accounts), which this process would keep through the report while the child
    # reads with its own. The next query here opens a fresh one; a connection in use (PostgreSQL's
    # lock) is not touched.
    engine.dispose()
    # Frozen for the fork: a collection in the child would otherwise write into the header of every
    # object it inherited, and so copy the parent's whole heap page by page (110 MB of the child's
    # memory at 100k accounts). The parent's are unfrozen at once; the child keeps its copy frozen.
    _return_free_heap()
    gc.freeze()
    try:
        child.start()
    finally:
        gc.unfreeze()
    sender.close()  # the child's end: once it is gone, recv() here says EOF instead of waiting
    try:
        while True:
            try:
                message, value = receiver.recv()
            except EOFError:
                child.join()
                raise ReaderProcessError(
                    f"the process reading {what} stopped (exit code {child.exitcode}) before "
                    "it finished: run the same command again"
                ) from None
            if message == "rows":
                yield from map(unpack, value)
            elif message == "lighter" and lighter is not None:
                yield from map(lighter[1], value)
            elif message == "error":
                raise value
            else:
                on_end(value)
                return
    finally:
        receiver.close()
        if child.is_alive():  # this side stopped first (an error, Ctrl-C): the child is not needed
            child.terminate()
        child.join()


def _return_free_heap() -> None:
    """Give the C heap's free pages back to the system before the fork: glibc keeps what the earlier
    stages freed, which the parent would hold through the report beside the child's own pages (the
    parent during the report at 100k accounts: 199 -> 181 MB)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return  # not glibc (musl, the BSDs): nothing kept to give back this way
    trim(0)


def _child(
    engine: Engine,
    produce: Callable[[], Iterator[Any]],
    pack: Callable[[Any], Any],
    pack_lighter: Callable[[Any], Any] | None,
    finish: Callable[[], Any],
    sender: Connection,
    receiver: Connection,
    what: str,
    parent: int,
) -> None:
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    # The parent's end, inherited: held open here, a dead parent's pipe would never break, and a full
    # pipe would keep this process (and the store's lock it inherited) forever.
    receiver.close()
    code = 0
    ahead = _Ahead(sender)
    try:
        engine.dispose(close=False)  # the inherited connections are the parent's: never used, never closed
        if engine.dialect.name == "sqlite":
            # Its own connection only reads, mostly in order: SQLite's default 2 MB page cache, not the
            # store's 16 MB (the parent's pages and this one's add up while the report is written).
            event.listen(engine, "connect", _small_page_cache)
        batch: list[Any] = []
        message, packing = "rows", pack
        for row in produce():
            if not batch and pack_lighter is not None:  # each batch decided as it starts
                lighter = ahead.pending() < _LIGHTER_BELOW
                message, packing = ("lighter", pack_lighter) if lighter else ("rows", pack)
            batch.append(packing(row))
            if len(batch) >= _BATCH:
                ahead.send((message, batch))
                batch = []
        if batch:
            ahead.send((message, batch))
        ahead.send(("end", finish()))
        ahead.close()
    except (BrokenPipeError, ConnectionResetError):
        code = 1  # the parent is gone or stopped reading: nothing to tell
    except BaseException as exc:  # every error goes to the parent, which raises it
        code = 1
        with contextlib.suppress(OSError):
            ahead.send(("error", _picklable(exc, what)))
            ahead.close()
    finally:
        ahead.abandon()
        sender.close()
        os._exit(code)  # not the parent's atexit hooks and buffers, which are the parent's to run


def _die_with(parent: int) -> None:
    """Be killed when *parent* dies (Linux's PR_SET_PDEATHSIG). Without it, a killed parent's child
    read on until its next message failed, which can be minutes away (a package's hashes are checked
    before its first record), and it held what it inherited meanwhile: the SQLite store's lock file
    (one flock for both), a PostgreSQL session's socket (the advisory lock stays while it is open).
    A re-run was refused as "in use" until then."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return  # not Linux: the broken pipe at the next message still ends it
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the prctl: no signal will come
        os._exit(1)


class _Ahead:
    """The child's messages, sent by a thread from a queue of up to :data:`_AHEAD` of them: the child
    goes on reading while the pipe is full. Sent straight, a message of a thousand rows (hundreds of
    kB) waited for the parent to take it, and the parent took it only once it had written the last
    ones: the two processes took turns, and an extract on two cores took as long as on one."""

    def __init__(self, sender: Connection) -> None:
        self._sender = sender
        self._queue: queue.Queue[memoryview | None] = queue.Queue(maxsize=_AHEAD)
        self._failed: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="ent-migrate-sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._failed is None:  # once failed, drained without sending: send() never blocks for good
                try:
                    self._sender.send_bytes(data)
                except OSError as exc:  # BrokenPipeError: the parent is gone
                    self._failed = exc

    def pending(self) -> int:
        """Messages queued, not yet taken by the thread (the one it is sending is not counted)."""
        return self._queue.qsize()

    def send(self, message: tuple[str, Any]) -> None:
        """Queue *message* (pickled here, as ``Connection.send`` would); the thread's error if it failed."""
        if self._failed is not None:
            raise self._failed
        self._queue.put(ForkingPickler.dumps(message))

    def close(self) -> None:
        """Wait until every queued message is sent; the thread's error if one was not."""
        self._queue.put(None)
        self._thread.join()
        if self._failed is not None:
            raise self._failed

    def abandon(self) -> None:
        """Stop the thread if :meth:`close` did not (an error on the way): what is queued is dropped."""
        if self._thread.is_alive():
            self._failed = self._failed or BrokenPipeError()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join(timeout=1)


def _small_page_cache(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA cache_size={_CHILD_CACHE_KIB}")
    finally:
        cursor.close()


def round_trip(value: _T) -> _T | None:
    """*value* pickled and read back, as the other process would read it; None if it does not survive
    (an exception whose ``__init__`` takes other arguments than it keeps does not unpickle)."""
    try:
        # Our own bytes, made and read back in this process: nothing untrusted is unpickled.
        back: _T = pickle.loads(pickle.dumps(value))  # noqa: S301
    except Exception:  # any failure to pickle or unpickle: the caller sends something plainer
        return None
    return back


def _picklable(exc: BaseException, what: str) -> BaseException:
    """*exc* if it survives pickling (most do: OSError, SQLAlchemy's errors); else one that says it."""
    if round_trip(exc) is None:
        # Its type only: an error's text may quote a statement's parameters (personal data).
        return ReaderProcessError(f"reading {what} failed ({type(exc).__name__}): run the same command again")
    return exc
