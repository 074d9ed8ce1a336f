/* budget.c -- a server's bounds over all its connections together (see
 * budget.h for the behaviour at each bound). */
#include "budget.h"

#include "log.h"

void budget_init(struct budget *b, unsigned max_conns, size_t max_bytes)
{
    *b = (struct budget){.max_conns = max_conns, .max_bytes = max_bytes};
}

bool budget_admit(struct budget *b)
{
    if (b->conns < b->max_conns)
        return true;
    b->refused++;
    log_error_limited("connection limit (%u) reached: closing new "
                      "connections at once",
                      b->max_conns);
    return false;
}

/* Every change to one of the connection's two buffers: a read, a write,
 * a drain, a move from input to output (counted out of one, into the
 * other). */
static void buffer_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                      void *arg)
{
    struct budget_conn *bc = arg;

    (void)buf;
    bc->held += info->n_added;
    bc->held -= info->n_deleted;
    bc->b->bytes += info->n_added;
    bc->b->bytes -= info->n_deleted;
}

int budget_attach(struct budget *b, struct budget_conn *bc,
                  struct bufferevent *bev)
{
    *bc = (struct budget_conn){.b = b};
    bc->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), buffer_cb, bc);
    bc->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), buffer_cb, bc);
    if (!bc->in_cb || !bc->out_cb) {
        if (bc->in_cb)
            evbuffer_remove_cb_entry(bufferevent_get_input(bev), bc->in_cb);
        if (bc->out_cb)
            evbuffer_remove_cb_entry(bufferevent_get_output(bev), bc->out_cb);
        return -1;
    }
    b->conns++;
    return 0;
}

void budget_detach(struct budget_conn *bc, struct bufferevent *bev)
{
    struct budget *b = bc->b;

    evbuffer_remove_cb_entry(bufferevent_get_input(bev), bc->in_cb);
    evbuffer_remove_cb_entry(bufferevent_get_output(bev), bc->out_cb);
    bc->in_cb = bc->out_cb = NULL;
    b->bytes -= bc->held;
    bc->held = bc->away = 0;
    b->conns--;
}

void budget_charge(struct budget_conn *bc, size_t n)
{
    bc->away += n;
    bc->held += n;
    bc->b->bytes += n;
}

void budget_refund(struct budget_conn *bc, size_t n)
{
    if (n > bc->away)
        n = bc->away;
    bc->away -= n;
    bc->held -= n;
    bc->b->bytes -= n;
}

bool budget_may_read(struct budget_conn *bc)
{
    bool may = bc->held == 0 || bc->b->bytes < bc->b->max_bytes;

    if (!may && !bc->paused)
        bc->b->pauses++;
    bc->paused = !may;
    return may;
}
