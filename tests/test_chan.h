/*
 * tests/test_chan.h - helpers shared by the test_chan program's files
 * (defined in test_chan.c).
 */
#ifndef WVT_TEST_CHAN_H
#define WVT_TEST_CHAN_H

#include "weave/chan.h"

#include <stddef.h>

/* A new channel, or the case fails. */
wv_chan_t *chan_make(size_t elem_size, size_t cap);

/* What a channel used by one thread is biased to (wv__chan_bias): that
 * thread (1) where membarrier lets the bias be revoked, nobody (0) where
 * it does not. */
int expected_bias(void);

#endif
