#!/usr/bin/env python3
"""Makes fuzz/corpus/pickle/: small pickles of the values a manager
carries, as CPython writes them with protocols 0 to 5, and a few hostile
ones written by hand (a cycle, billion laughs, a call of os.system).  Each
file is named by the SHA-1 of its bytes.  Run from the source tree's root:
fuzz/make_pickle_seeds.py (the seeds are committed; run it again only to
remake them)."""
import hashlib
import os
import pickle
import queue

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus",
                   "pickle")

shared = [1]
VALUES = [
    None, True, 0, 255, 65536, -1, 2**31, 2**63, -2**100, 2**700,
    1.5, -0.0, float("inf"), float("nan"),
    "", "abc", "\xe9\u4e2d", "a\udc80b", "x" * 300,
    b"", b"\x00\xff", b"y" * 300, bytearray(b"ba"), bytearray(),
    (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4),
    [], [1], [1, 2, 3], list(range(20)),
    {}, {"a": 1}, {"a": 1, "b": [1, 2]}, {(1, "t"): None, 2.5: b"f"},
    set(), {1, 2}, frozenset({3}), frozenset(),
    1 + 2j, ValueError("bad value", 42), queue.Empty(),
    [shared, shared], ("same", "same"),
    ("#RETURN", {"k": [1, (2.5, None, True)], "z": frozenset({1, 2})}),
]

HOSTILE = [
    b"\x80\x04]\x94h\x00a.",                      # x.append(x)
    b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.",
    b"\x80\x04\x8c\x01a\x94" + b"h\x00h\x00\x86\x94" + b"h\x01h\x01\x86\x94"
    + b"h\x02h\x02\x86\x94" + b".",
    b"\x80\x04(]\x94K\x01a(dp1\nX\x01\x00\x00\x00aq\x02K\x02s\x85q\x03ag1\na.",
    b"\x80\x04\x8c\x01m\x8c\x01n\x93)\x81\x94}\x94b.",
]


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = set(HOSTILE)
    for i, v in enumerate(VALUES):
        # Protocol 4 (the managers') for each; every fifth value also
        # with the others, for their opcodes.
        for p in range(0, 6) if i % 5 == 0 else (4,):
            seeds.add(pickle.dumps(v, p))
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(s)
    print(len(seeds), "seeds in", OUT)


if __name__ == "__main__":
    main()
