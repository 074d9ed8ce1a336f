/* echo_read.h -- the read callback of the profiling lab's server. */
#ifndef EXERCISES_CH3_PROFILE_ECHO_READ_H
#define EXERCISES_CH3_PROFILE_ECHO_READ_H

#include <event2/bufferevent.h>

/* Called by libevent when bytes wait in bev's input: echo them. */
void echo_read_cb(struct bufferevent *bev, void *arg);

#endif
