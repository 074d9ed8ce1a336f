/* pace.c -- send on schedule, check every echo, measure from due times.
 * This is the file you write; exercises/ch4-c10k-client/README.md says
 * what it must do, and pace.h what c10k_client.c gives you. */
#include "pace.h"

#include <stdio.h>

int pace_run(struct pace *p)
{
    /* TODO: a timer that, every millisecond, sends each message whose
     *       due time (pace_due_ns) has come, on its connection, whatever
     *       the echoes do: never wait for an echo before the next send.
     * TODO: a read event per connection that checks every echoed byte
     *       against its message (pace_message), counts p->echoed and
     *       records the latency from the message's due time.
     * TODO: stop when every message due before p->end_ns is sent and
     *       echoed, or p->grace_ms after p->end_ns.
     * Count p->sent and p->errors; on failure say why in p->error. */
    snprintf(p->error, sizeof(p->error), "pace_run() is not written yet");
    return -1;
}
