/* echo_read.c -- exercise ch3-profile: the tutorial's variant of the echo
 * read callback (tutorial 3.5, exercise 3). Profile the server built with
 * it, explain what the profile shows, then fix this function. See
 * README.md. */
#include "echo_read.h"

#include <event2/buffer.h>

void echo_read_cb(struct bufferevent *bev, void *arg)
{
    char buffer[4 * 1024] = {0};
    struct evbuffer *input = bufferevent_get_input(bev);
    struct evbuffer *output = bufferevent_get_output(bev);

    (void)arg;
    (void)buffer;
    /* Move every byte of the input to the output. */
    evbuffer_add_buffer(output, input);
}
