"""A TCP proxy in front of a real service (Redis, PostgreSQL), with a switch: the outage
drills in a test.

`down()` drops every connection passing through it and refuses new ones (the listening
socket is closed, so a connect gets ECONNREFUSED, as from a host whose service has
gone); `up()` listens again on the same port. It runs its own event loop in a thread,
so the test's loops and the servers under test are free to do what they like.
"""
import asyncio
import contextlib
import threading
from urllib.parse import urlsplit, urlunsplit

from tests.live import free_port


class TcpProxy:
    def __init__(self, url: str, default_port: int):
        self.real = urlsplit(url)
        self.target = (self.real.hostname or "127.0.0.1", self.real.port or default_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def url(self) -> str:
        """The service's URL (credentials, path, query kept), through the proxy."""
        userinfo = self.real.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(self.real._replace(netloc=netloc))

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self):
        self.thread.start()
        self.up()
        return self

    def up(self):
        self._run(self._listen())

    def down(self):
        self._run(self._drop_all())

    def stop(self):
        self.down()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _listen(self):
        if self.server is None:
            self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port,
                                                     reuse_address=True)

    async def _drop_all(self):
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()  # an RST, like a host whose service went away
        self.writers.clear()

    async def _pipe(self, client_reader, client_writer):
        try:
            real_reader, real_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        if self.server is None:  # went down while connecting
            client_writer.transport.abort()
            real_writer.transport.abort()
            return
        self.writers.update((client_writer, real_writer))
        await asyncio.gather(self._copy(client_reader, real_writer),
                             self._copy(real_reader, client_writer))

    async def _copy(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()


class RedisProxy(TcpProxy):
    def __init__(self, redis_url: str):
        super().__init__(redis_url, 6379)
        if not self.real.path:
            self.real = self.real._replace(path="/0")


class PostgresProxy(TcpProxy):
    def __init__(self, database_url: str):
        super().__init__(database_url, 5432)
