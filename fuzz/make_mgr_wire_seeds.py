#!/usr/bin/env python3
"""Makes fuzz/corpus/mgr_wire/: seeds for fuzz_mgr_wire.c, from the
transcripts of MANAGER-PROTOCOL.md section 2.4 (captured between CPython
3.8 and 3.13, key b'abc') and from frames of the captured sessions,
each behind fuzz_mgr_wire.c's mode byte (bits 0-1: 0 frames with a small
max, 1 weave is the server, 2 weave is the client, 3 frames with no max;
bit 2 strict; bit 3 chunked).  The fuzz build's nonce is 40 zero bytes,
so the answers to weave's challenge are computed here.  Run from the
source tree's root: fuzz/make_mgr_wire_seeds.py (the seeds are
committed; run it again only to remake them)."""
import hashlib
import hmac
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus",
                   "mgr_wire")
KEY = b"abc"
OURS = b"{sha256}" + bytes(40)  # weave's challenge message in a fuzz build

# Captured (MANAGER-PROTOCOL.md 2.4): challenge messages after #CHALLENGE#.
MODERN_S = bytes.fromhex(
    "7b7368613235367d3250fb7816c0cee3255906d4222a5d529d91e7bc13289c6a3d12c5b2"
    "4d295b95ab18bbcf6da1275e")
MODERN_C = bytes.fromhex(
    "7b7368613235367dc3037e38661ca78264340cd1ac243a350fd71f1e5e0ffa4c773e6591"
    "e09de2b739f3920c3975c83f")
LEGACY_S = bytes.fromhex("dcffe7c420cf268777470d18d82a872cc74456cb")
LEGACY_C = bytes.fromhex("15447880663d9b66f729b90e4b79e08d0f6caa0a")
# The request (None, 'dummy', (), {}) and the reply ('#RETURN', None).
DUMMY = bytes.fromhex(
    "8004951000000000000000284e8c0564756d6d7994297d9474942e")
RETURN_NONE = bytes.fromhex(
    "8004950e000000000000008c072352455455524e944e86942e")


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def escape(payload):
    return b"\xff\xff\xff\xff" + struct.pack(">Q", len(payload)) + payload


def answer(msg, digest):
    """CPython's _create_response: raw MD5 when digest is None."""
    mac = hmac.new(KEY, msg, digest or "md5").digest()
    return mac if digest is None else b"{%s}%s" % (digest.encode(), mac)


def chunked(data, size):
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += bytes([len(part)]) + part + (b"\x00" if i % 3 == 0 else b"")
    return out


def client_transcript(digest, challenge, verdict=b"#WELCOME#"):
    """What a client sends a weave server: the answer to OURS, its own
    challenge, its verdict."""
    return (frame(answer(OURS, digest)) + frame(b"#CHALLENGE#" + challenge)
            + frame(verdict))


def server_transcript(challenge, digest, verdict=b"#WELCOME#"):
    """What a server sends a weave client: its challenge, its verdict on
    our answer, its answer to OURS."""
    return (frame(b"#CHALLENGE#" + challenge) + frame(verdict)
            + frame(answer(OURS, digest)))


def seeds():
    yield 0, b"\x0f" + frame(b"#WELCOME#") + frame(b"#FAILURE#")
    yield 0, b"\xff" + frame(DUMMY) + frame(RETURN_NONE) + frame(b"")
    yield 0, b"\x10" + escape(b"hello") + frame(b"x" * 17)
    yield 0, b"\x08" + frame(b"x" * 10)  # over the max
    yield 0, b"\x08" + b"\xff\xff\xff\xfe"  # negative
    yield 3, frame(DUMMY) + escape(RETURN_NONE) + frame(b"\x00" * 300)
    yield 3, b"\xff\xff\xff\xff\x40\x00\x00\x00\x00\x00\x00\x00abc"
    for digest in (None, "md5", "sha256", "sha384", "sha3_256", "sha3_384"):
        yield 1, client_transcript(digest, MODERN_C)
    yield 1, client_transcript(None, LEGACY_C)
    yield 1, client_transcript("sha256", MODERN_C, b"#FAILURE#")
    yield 1, client_transcript("sha256", OURS)  # reflection
    yield 1, frame(b"y" * 257)
    yield 1, escape(b"y" * 16)
    yield 1, b"\xff\xff\xff\xff\x7f\xff\xff\xff\xff\xff\xff\xff"
    yield 2, server_transcript(MODERN_S, "sha256")
    yield 2, server_transcript(LEGACY_S, None)
    yield 2, server_transcript(b"{sha3_384}" + bytes(range(40)), "sha384")
    yield 2, server_transcript(MODERN_S, "sha256", b"#FAILURE#")
    yield 2, frame(b"#CHALLENGE#{sha1}" + bytes(40))
    yield 2, frame(b"#CHALLENGE#" + bytes(19))


def main():
    os.makedirs(OUT, exist_ok=True)
    made = set()
    for mode, body in seeds():
        variants = [bytes([mode]) + body]
        if mode in (1, 2):
            variants.append(bytes([mode | 4]) + body)  # strict
        if mode != 0:
            variants.append(bytes([mode | 8]) + chunked(body, 7))
        for data in variants:
            name = hashlib.sha1(data).hexdigest()
            made.add(name)
            with open(os.path.join(OUT, name), "wb") as f:
                f.write(data)
    print(len(made), "seeds in", OUT)


if __name__ == "__main__":
    main()
