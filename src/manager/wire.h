/*
 * manager/wire.h - the bytes under a manager connection, as CPython's
 * multiprocessing.connection writes them (MANAGER-PROTOCOL.md, sections 1
 * and 2): length-prefixed frames, and the mutual HMAC challenge that
 * opens every connection.
 *
 * Frames: a signed 32-bit big-endian length and the payload; the length
 * -1 is followed by an unsigned 64-bit big-endian length (CPython writes
 * that form only past 2 GiB - 1, and reads it at any size).  Any other
 * negative length is a protocol error.
 *
 * Every call runs on a wv_stream_t (weave/stream.h), so it waits through
 * the stream: from a thread it blocks, from a coroutine it parks, with
 * the caller's deadline.  Internal to weave.
 */
#ifndef WEAVE_MANAGER_WIRE_H
#define WEAVE_MANAGER_WIRE_H

#include "weave/stream.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CPython's limit on a handshake frame (recv_bytes(256)). */
#define WV__MGR_HANDSHAKE_MAX 256

/*
 * Sends one frame of len bytes: the header and payload are written into
 * the stream and drained before returning.  Errors: the stream's
 * (WV_EPIPE, WV_ECONNRESET, WV_ETIMEDOUT, WV_ECANCELED, WV_ENOMEM).
 */
int wv__mgr_send_frame(wv_stream_t *s, const void *data, size_t len,
                       int64_t deadline);

/*
 * As wv__mgr_send_frame, but buf holds 4 bytes of room, then the payload:
 * the header is written into buf[0..3] and the whole sent with one write
 * (no copy of the payload beside the stream's own).  Payloads of 2 GiB
 * or more: WV_EMSGSIZE (use wv__mgr_send_frame).
 */
int wv__mgr_send_framed(wv_stream_t *s, char *buf, size_t payload_len,
                        int64_t deadline);

/*
 * Receives one frame into a new buffer *out (wv__malloc'd, freed by the
 * caller with wv__free; one spare NUL byte after the payload), *len
 * bytes.  A frame longer than max is refused before any of its payload is
 * read: WV_EMSGSIZE, and the stream is then unusable.  Errors: WV_EOF
 * (the peer closed before the first header byte: the orderly end),
 * WV_EPROTO (end of stream inside a frame, a negative length other than
 * -1), WV_EMSGSIZE, WV_ENOMEM (the buffer grows with the bytes that
 * arrive, never to a size the peer only announced), the stream's errors.
 * A deadline (WV_ETIMEDOUT, WV_EAGAIN) that expires within the header
 * loses nothing: a later call reads the frame whole.  Within the body the
 * bytes read so far are dropped: the stream is out of step, as after
 * every other error but WV_EOF, and only good for closing.
 */
int wv__mgr_recv_frame(wv_stream_t *s, size_t max, char **out, size_t *len,
                       int64_t deadline);

/* wv__mgr_recv_frame into scratch (room bytes, the caller's) when the
 * payload and its NUL fit: *out is then scratch, not to be freed; a
 * larger frame goes to a new buffer as wv__mgr_recv_frame's does.  On an
 * error *out is NULL. */
int wv__mgr_recv_frame_into(wv_stream_t *s, size_t max, char *scratch,
                            size_t room, char **out, size_t *len,
                            int64_t deadline);

/* What one side of the handshake knows. */
typedef struct wv__mgr_auth {
    /* The authkey, used directly as the HMAC key. */
    const void *key;
    size_t keylen;
    /* Refuse the legacy form (raw HMAC-MD5, CPython <= 3.11) both ways:
     * for deployments of weave and CPython 3.12+ only. */
    bool strict;
} wv__mgr_auth_t;

/*
 * The server's side (CPython's deliver_challenge, then answer_challenge):
 * sends #CHALLENGE# + {sha256} + 40 random bytes; accepts a raw 16-byte
 * HMAC-MD5 answer (unless strict) or {name} + HMAC-name for md5, sha256,
 * sha384, sha3_256 and sha3_384, compared in constant time; sends
 * #WELCOME# or #FAILURE# (and after #FAILURE# nothing but the close, which
 * is the caller's); then answers the client's challenge: 20 bytes ->
 * raw HMAC-MD5 (unless strict), {name} prefix -> {name} + HMAC-name over
 * the whole message; and reads the client's verdict.  Every frame is at
 * most 256 bytes.  A challenge equal to the one we sent is refused
 * (reflection).  Errors: WV_EAUTH (the client's answer was wrong, or it
 * refused ours: #FAILURE#), WV_EPROTO (a malformed frame: no #CHALLENGE#
 * prefix, unknown digest, a frame over 256 bytes, anything but
 * #WELCOME#/#FAILURE# as the verdict), WV_ENOSYS (weave built without
 * OpenSSL's libcrypto), the stream's errors (WV_EOF if the client left).
 */
int wv__mgr_auth_server(wv_stream_t *s, const wv__mgr_auth_t *auth,
                        int64_t deadline);

/*
 * The client's side (CPython's answer_challenge, then deliver_challenge),
 * the mirror of the above: answers the server's challenge in the form it
 * asks for, reads #WELCOME#, sends its own challenge ({sha256} + 40
 * random bytes), checks the server's answer (raw MD5 accepted unless
 * strict) and sends #WELCOME# or #FAILURE#.  Errors as the server's:
 * WV_EAUTH when the server refused our answer (#FAILURE#) or answered ours
 * wrongly (we then send #FAILURE#).
 */
int wv__mgr_auth_client(wv_stream_t *s, const wv__mgr_auth_t *auth,
                        int64_t deadline);

#endif /* WEAVE_MANAGER_WIRE_H */
