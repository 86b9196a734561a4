"""Where the CPU work of an inbound frame runs: inline when small, on a thread when large.

Parsing and schema validation of a frame near the size limit take up to a few hundred
milliseconds (csms/protocol/limits.py bounds them); on the event loop that froze every
other connection of the process. Large frames go to a small dedicated pool: the GIL
still lets only one thread run Python at a time, but the loop gets its turn every few
milliseconds instead of waiting for the whole frame. A separate pool from the database
one (csms/db.py), so frame work never takes a database thread.

And one large frame at a time per process (`turn`), from its parsing to its stored
answer: ten stations sending 1,000-entry reports at once had ten threads of
validation and ORM work competing with the loop for the GIL and filling the database
pool, and another station's Heartbeat waited seconds for its turn (bench/drill_reports.py).
Taking turns costs the large frames nothing they had (they were CPU-bound together),
and leaves the loop and the database pool to everyone else.
"""
import asyncio
import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor

from .protocol.limits import OFFLOAD_BYTES

# More threads would not add throughput under the GIL; two keep one heavy station from
# queueing everyone else's large frames behind its own.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="csms-frames")


async def run(size: int, func, *args, **kwargs):
    """`func(*args, **kwargs)` for a frame of `size` characters, off the loop if large."""
    if size < OFFLOAD_BYTES:
        return func(*args, **kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, functools.partial(func, *args, **kwargs))


_turns: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


@contextlib.asynccontextmanager
async def turn(size: int):
    """Hold the process's large-frame turn while a frame of `size` characters is handled
    (first come, first served); small frames never wait for it."""
    if size < OFFLOAD_BYTES:
        yield
        return
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = asyncio.Semaphore(1)
    async with turns:
        yield
