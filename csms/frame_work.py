"""Where the CPU work of an inbound frame runs: inline when small, on a thread when large.

Parsing and schema validation of a frame near the size limit take up to a few hundred
milliseconds (csms/protocol/limits.py bounds them); on the event loop that froze every
other connection of the process. Large frames go to a small dedicated pool: the GIL
still lets only one thread run Python at a time, but the loop gets its turn every few
milliseconds instead of waiting for the whole frame. A separate pool from the database
one (csms/db.py), so frame work never takes a database thread.
"""
import asyncio
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
