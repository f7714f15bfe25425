#!/usr/bin/env python3
"""Seeds for fuzz_mgr_serve: what CPython's manager clients send after the
handshake, framed as on the wire.  Idents are the fuzz target's fixed ones.
Run from the repository: python3 fuzz/make_mgr_serve_seeds.py"""
import hashlib
import os
import pickle
import struct
from multiprocessing.managers import Token

Q, CALC = '100000000000', '100000000010'
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus',
                   'mgr_serve')


def frame(obj, protocol=4):
    data = pickle.dumps(obj, protocol)
    return struct.pack('>i', len(data)) + data


def control(name, *args):
    return frame((None, name, args, {}))


def method(ident, name, *args, **kwds):
    return frame((ident, name, args, kwds))


accept = control('accept_connection', 'MainProcess')
seeds = [
    control('dummy'),
    control('create', 'get_task_queue'),
    control('create', 'Calc'),
    control('create', 'nothing'),
    control('incref', Q),
    control('decref', Q),
    control('decref', 'ffff'),
    control('number_of_objects'),
    control('debug_info'),
    control('shutdown'),
    control('get_methods', Token('get_task_queue', ('127.0.0.1', 1), Q)),
    control('no_such_function'),
    accept + method(Q, 'put', 7) + method(Q, 'get', timeout=1),
    accept + method(Q, 'put', 'x', True, 0.5) + method(Q, 'get', True, 0.01),
    accept + method(Q, 'get_nowait') + method(Q, 'put_nowait', b'\x00'),
    accept + method(Q, 'qsize') + method(Q, 'empty') + method(Q, 'full'),
    accept + method(Q, 'task_done') + method(Q, 'join'),
    accept + method(Q, 'put', [1, (2, 3), {'a': None}]) +
    method(Q, '_wv_get_leased', 1000, True, 0.01) + method(Q, '_wv_ack', 1),
    accept + method(Q, '_wv_put_many', list(range(10)), True, 0.01) +
    method(Q, '_wv_get_many', 5, True, 0.01),
    accept + method(Q, 'shutdown'),
    accept + method(Q, '__str__') + method(Q, '__repr__') +
    method(Q, '#GETVALUE'),
    accept + method(CALC, 'add', 40, 2) + method(CALC, 'add', 1, 'x') +
    method(CALC, 'nope') + method('ffff', 'add', 1, 2),
    accept + method(Q, 'put', 2**100) + method(Q, 'get', timeout=-1),
    accept + struct.pack('>i', 0),
    accept + struct.pack('>i', -1) + struct.pack('>Q', 5) + b'\x80\x04N.',
    accept + frame((Q, 'put', (1,), {}), 2),
    accept + frame((Q, 'put', (1,), {}), 5),
    frame((None, 'dummy')),  # three items: not a request
    frame([None, 'dummy', (), {}]),
]
os.makedirs(OUT, exist_ok=True)
for s in seeds:
    name = hashlib.sha1(s).hexdigest()
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(s)
print(len(seeds), 'seeds in', OUT)
