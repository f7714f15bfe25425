#!/usr/bin/env python3
"""Makes fuzz/corpus/tls/: the first flights of real TLS handshakes, each
behind the mode byte of fuzz_tls.c (bit 0: weave is the client; bit 1:
TLS 1.3 only; bit 2: the client skips verification).  Python's ssl
module plays both sides in memory; the server's certificate is made with
the openssl command into a temporary directory.  Run from the source
tree's root: fuzz/make_tls_seeds.py (the seeds are committed; run it
again only to remake them)."""
import hashlib
import os
import ssl
import subprocess
import tempfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "tls")


def client_hello(ctx):
    """The ClientHello of a client over memory BIOs, and the objects."""
    cin, cout = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(cin, cout, server_hostname="localhost")
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return cout.read()


def server_flight(sctx, hello):
    """What a server answers to hello."""
    sin, sout = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = sctx.wrap_bio(sin, sout, server_side=True)
    sin.write(hello)
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return sout.read()


def save(mode, data):
    blob = bytes([mode]) + data
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(blob)


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "1",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost"],
                       check=True, capture_output=True)
        for max_version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            cctx.check_hostname = False
            cctx.verify_mode = ssl.CERT_NONE
            cctx.maximum_version = max_version
            hello = client_hello(cctx)
            tls13 = max_version == ssl.TLSVersion.TLSv1_3
            save(2 if tls13 else 0, hello)          # weave the server
            sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            sctx.load_cert_chain(cert, key)
            sctx.maximum_version = max_version
            flight = server_flight(sctx, hello)
            save(1, flight)                          # weave the client
            save(5, flight)                          # ... not verifying
            if tls13:
                save(3, flight)


if __name__ == "__main__":
    main()
