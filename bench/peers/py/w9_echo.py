"""W9 for Python: the echo servers (BENCH.md), on 127.0.0.1:PORT until
SIGTERM (its default action).  Also W9c's servers: an idle connection is
a handler waiting in its read.

    py-asyncio-streams         asyncio.start_server; the handler loops
                               reader.read(65536), writer.write, await
                               writer.drain()
    py-asyncio-uvloop-streams  the same code on uvloop's event loop
    py-gevent-StreamServer     gevent.server.StreamServer; the handler
                               loops sock.recv(65536), sock.sendall

    w9_echo.py PEER PORT

asyncio and uvloop set TCP_NODELAY on their accepted sockets themselves;
gevent does not, so its handler sets it (as the other servers have it).
"""
import socket
import sys


async def handle(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


async def serve(port):
    import asyncio
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def asyncio_server(port, uvloop=False):
    import asyncio
    if uvloop:
        import uvloop as uv
        uv.install()
    asyncio.run(serve(port))


def gevent_server(port):
    from gevent.server import StreamServer

    def handler(sock, _addr):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        recv, sendall = sock.recv, sock.sendall
        while True:
            data = recv(65536)
            if not data:
                break
            sendall(data)
        sock.close()

    StreamServer(("127.0.0.1", port), handler).serve_forever()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: w9_echo.py PEER PORT")
    peer, port = sys.argv[1], int(sys.argv[2])
    if peer == "py-asyncio-streams":
        asyncio_server(port)
    elif peer == "py-asyncio-uvloop-streams":
        asyncio_server(port, uvloop=True)
    elif peer == "py-gevent-StreamServer":
        gevent_server(port)
    else:
        sys.exit(f"unknown peer {peer}")


if __name__ == "__main__":
    main()
