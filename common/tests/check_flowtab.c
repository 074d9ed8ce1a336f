/* check_flowtab.c -- flow ids: lookup, generations, capacity, churn. */
#include "flowtab.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

static int objs[64];

START_TEST(test_flowtab_add_get_del)
{
    struct flowtab *ft = flowtab_new(8);
    uint32_t a, b;

    ck_assert_ptr_nonnull(ft);
    a = flowtab_add(ft, &objs[0]);
    b = flowtab_add(ft, &objs[1]);
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_ne(b, 0);
    ck_assert_uint_ne(a, b);
    ck_assert_ptr_eq(flowtab_get(ft, a), &objs[0]);
    ck_assert_ptr_eq(flowtab_get(ft, b), &objs[1]);
    ck_assert_uint_eq(flowtab_count(ft), 2);
    ck_assert_int_eq(flowtab_del(ft, a), 0);
    ck_assert_ptr_null(flowtab_get(ft, a));
    ck_assert_int_eq(flowtab_del(ft, a), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_uint_eq(flowtab_count(ft), 1);
    ck_assert_ptr_null(flowtab_get(ft, 0));
    flowtab_free(ft);
}
END_TEST

/* The heart of it: an old id never reaches the slot's new owner. */
START_TEST(test_flowtab_stale_id_misses_new_owner)
{
    struct flowtab *ft = flowtab_new(1);
    uint32_t old, fresh;

    old = flowtab_add(ft, &objs[0]);
    ck_assert_int_eq(flowtab_del(ft, old), 0);
    fresh = flowtab_add(ft, &objs[1]); /* the only slot, reused */
    ck_assert_uint_ne(fresh, old);
    ck_assert_ptr_null(flowtab_get(ft, old));
    ck_assert_int_eq(flowtab_del(ft, old), -1);
    ck_assert_ptr_eq(flowtab_get(ft, fresh), &objs[1]);
    flowtab_free(ft);
}
END_TEST

START_TEST(test_flowtab_full)
{
    struct flowtab *ft = flowtab_new(64);
    uint32_t ids[64];

    for (int i = 0; i < 64; i++) {
        ids[i] = flowtab_add(ft, &objs[i]);
        ck_assert_uint_ne(ids[i], 0);
    }
    ck_assert_uint_eq(flowtab_add(ft, &objs[0]), 0);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_int_eq(flowtab_del(ft, ids[17]), 0);
    ck_assert_uint_ne(flowtab_add(ft, &objs[17]), 0);
    for (int i = 0; i < 64; i++)
        if (i != 17)
            ck_assert_ptr_eq(flowtab_get(ft, ids[i]), &objs[i]);
    flowtab_free(ft);
}
END_TEST

START_TEST(test_flowtab_bad_ids_and_args)
{
    struct flowtab *ft = flowtab_new(5); /* not a power of two */
    uint32_t id = flowtab_add(ft, &objs[0]);

    /* slot numbers past the capacity, inside the index bits */
    for (uint32_t i = 5; i < 8; i++)
        ck_assert_ptr_null(flowtab_get(ft, (id & ~7u) | i));
    ck_assert_ptr_null(flowtab_get(ft, 0xffffffffu));
    ck_assert_uint_eq(flowtab_add(ft, NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    flowtab_free(ft);
    ck_assert_ptr_null(flowtab_new(0));
    ck_assert_ptr_null(flowtab_new(FLOWTAB_MAX + 1));
}
END_TEST

/* A million connect/close cycles: nothing leaks, no id repeats within a
 * window, every live id still finds its own object. */
START_TEST(test_flowtab_million_cycles)
{
    enum { CAP = 1024, LIVE = 100 };
    struct flowtab *ft = flowtab_new(CAP);
    uint32_t live[LIVE], prev = 0;
    int bad = 0;

    for (int i = 0; i < LIVE; i++)
        live[i] = flowtab_add(ft, &objs[i % 64]);
    /* Plain checks in the loop: each Check assertion records its place
     * through the runner's pipe, a million of them take seconds. */
    for (int n = 0; n < 1000000; n++) {
        int k = n % LIVE;
        uint32_t old = live[k];
        if (flowtab_del(ft, old) < 0)
            bad++;
        live[k] = flowtab_add(ft, &objs[k % 64]);
        if (live[k] == 0 || live[k] == old || live[k] == prev ||
            flowtab_get(ft, old) != NULL)
            bad++;
        prev = old;
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_uint_eq(flowtab_count(ft), LIVE);
    for (int i = 0; i < LIVE; i++)
        ck_assert_ptr_eq(flowtab_get(ft, live[i]), &objs[i % 64]);
    flowtab_free(ft);
}
END_TEST

START_TEST(test_flowtab_iterate_and_delete)
{
    struct flowtab *ft = flowtab_new(16);
    uint32_t cursor = 0, id;
    void *obj;
    int seen = 0;

    for (int i = 0; i < 10; i++)
        flowtab_add(ft, &objs[i]);
    while ((id = flowtab_next(ft, &cursor, &obj)) != 0) {
        ck_assert_ptr_eq(flowtab_get(ft, id), obj);
        ck_assert_int_eq(flowtab_del(ft, id), 0);
        seen++;
    }
    ck_assert_int_eq(seen, 10);
    ck_assert_uint_eq(flowtab_count(ft), 0);
    flowtab_free(ft);
}
END_TEST

Suite *flowtab_suite(void)
{
    Suite *s = suite_create("flowtab");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_flowtab_add_get_del);
    tcase_add_test(tc, test_flowtab_stale_id_misses_new_owner);
    tcase_add_test(tc, test_flowtab_iterate_and_delete);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_flowtab_full);
    tcase_add_test(tc, test_flowtab_bad_ids_and_args);
    tcase_add_test(tc, test_flowtab_million_cycles);
    suite_add_tcase(s, tc);
    return s;
}
