"""A loopback proxy in front of the live CSMS that rewrites the response head of each
handshake (how other servers spell their challenges: `BASIC`, extra whitespace, all
challenges in one field) and keeps each request head the client sent, so a test sees
what the reference client really wrote. The bytes after the heads pass unchanged.

The CSMS always writes challenges one way; the white paper's client cases CS-4 and CS-5
are about the servers that do not.
"""
import asyncio
import contextlib


async def _pipe(reader, writer):
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError):
        writer.close()


@contextlib.asynccontextmanager
async def rewriting_proxy(target_port: int, rewrite=lambda head: head, ssl=None):
    """Yields (port, heads): `heads` collects the request heads (bytes) in order. With
    `ssl` (a server context) it terminates TLS, as a CSMS's front proxy does."""
    heads: list[bytes] = []

    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        try:
            head = await client_reader.readuntil(b"\r\n\r\n")
            heads.append(head)
            server_writer.write(head)
            await server_writer.drain()
            client_writer.write(rewrite(await server_reader.readuntil(b"\r\n\r\n")))
            await client_writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            client_writer.close()
            server_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl)
    try:
        yield server.sockets[0].getsockname()[1], heads
    finally:
        server.close()
