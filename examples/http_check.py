#!/usr/bin/env python3
"""The test example_net_http_headers_python: Python's http.client fetches
from the weave HTTP server of `net_http_headers --serve` and checks the
status, the headers and the body; then the server must stop cleanly when
its standard input ends.  Usage: http_check.py PATH-TO-net_http_headers"""
import http.client
import subprocess
import sys


def fetch(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("X-Site"), resp.read()
    finally:
        conn.close()


def main():
    server = subprocess.Popen([sys.argv[1], "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        port = int(server.stdout.readline())
        checks = [
            (fetch(port, "/"), (200, "localhost", b"<h1>localhost</h1>\n")),
            (fetch(port, "/nothing"), (404, "localhost",
                                       b"<h1>not found</h1>\n")),
        ]
        for got, want in checks:
            print("got", got)
            if got != want:
                print("expected", want)
                return 1
    finally:
        server.stdin.close()
        code = server.wait(timeout=30)
    print("server exited with", code)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
