/* The Runtime/Extensions API state machine, without sockets: every allowed and refused
 * transition of Lambda's per-environment rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runner/state.h"

static const char *ID1 = "11111111-1111-4111-8111-111111111111";
static const char *ID2 = "22222222-2222-4222-8222-222222222222";

static void ready(struct lbox_rstate *s)
{
    lbox_rs_reset(s);
    assert_int_equal(lbox_rs_next(s), LBOX_RS_PARK);
    assert_int_equal(s->phase, LBOX_RT_READY);
}

static void test_init_then_parked_next_gets_event(void **st)
{
    (void)st;
    struct lbox_rstate s;
    lbox_rs_reset(&s);
    assert_false(lbox_rs_init_done(&s));
    assert_int_equal(lbox_rs_next(&s), LBOX_RS_PARK);
    assert_true(lbox_rs_init_done(&s));
    /* The runtime is parked: queueing tells the caller to resume it. */
    assert_int_equal(lbox_rs_queue(&s, ID1), LBOX_RS_DELIVER);
    assert_int_equal(lbox_rs_take(&s), LBOX_RS_DELIVER);
    assert_int_equal(s.phase, LBOX_RT_RUNNING);
    assert_false(lbox_rs_invoke_done(&s));
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_OK);
    assert_true(lbox_rs_invoke_done(&s));
}

static void test_event_queued_before_next(void **st)
{
    (void)st;
    struct lbox_rstate s;
    ready(&s);
    assert_int_equal(lbox_rs_queue(&s, ID1), LBOX_RS_DELIVER);
    assert_int_equal(lbox_rs_take(&s), LBOX_RS_DELIVER);
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_OK);
    /* Next invoke queued before the runtime comes back to /next. */
    assert_int_equal(lbox_rs_queue(&s, ID2), LBOX_RS_OK);
    assert_false(lbox_rs_invoke_done(&s));
    assert_int_equal(lbox_rs_next(&s), LBOX_RS_DELIVER);
    assert_int_equal(s.phase, LBOX_RT_RUNNING);
    assert_string_equal(s.request_id, ID2);
}

static void test_wrong_id_is_400(void **st)
{
    (void)st;
    struct lbox_rstate s;
    ready(&s);
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_BAD_ID); /* no invoke at all */
    lbox_rs_queue(&s, ID1);
    lbox_rs_take(&s);
    assert_int_equal(lbox_rs_response(&s, ID2), LBOX_RS_BAD_ID);
    assert_int_equal(lbox_rs_error(&s, "garbage"), LBOX_RS_BAD_ID);
    assert_int_equal(lbox_rs_stream_begin(&s, NULL), LBOX_RS_BAD_ID);
    assert_int_equal(s.phase, LBOX_RT_RUNNING); /* refused requests change nothing */
}

static void test_second_response_is_403(void **st)
{
    (void)st;
    struct lbox_rstate s;
    ready(&s);
    lbox_rs_queue(&s, ID1);
    lbox_rs_take(&s);
    assert_int_equal(lbox_rs_error(&s, ID1), LBOX_RS_OK);
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_BAD_STATE);
    assert_int_equal(lbox_rs_error(&s, ID1), LBOX_RS_BAD_STATE);
    assert_int_equal(lbox_rs_stream_begin(&s, ID1), LBOX_RS_BAD_STATE);
}

static void test_next_while_running_gets_the_event_again(void **st)
{
    (void)st;
    struct lbox_rstate s;
    ready(&s);
    assert_int_equal(lbox_rs_next(&s), LBOX_RS_BAD_STATE); /* second /next while parked */
    lbox_rs_queue(&s, ID1);
    lbox_rs_take(&s);
    assert_int_equal(lbox_rs_next(&s), LBOX_RS_DELIVER);
    assert_string_equal(lbox_rs_phase_name(s.phase), "Running");
    assert_string_equal(s.request_id, ID1);
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_OK); /* one answer still closes it */
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_BAD_STATE);
}

static void test_streaming(void **st)
{
    (void)st;
    struct lbox_rstate s;
    ready(&s);
    lbox_rs_queue(&s, ID1);
    lbox_rs_take(&s);
    assert_int_equal(lbox_rs_stream_begin(&s, ID1), LBOX_RS_OK);
    assert_false(lbox_rs_invoke_done(&s));
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_BAD_STATE);
    assert_int_equal(lbox_rs_queue(&s, ID2), LBOX_RS_BUSY);
    lbox_rs_stream_end(&s);
    assert_true(lbox_rs_invoke_done(&s));
}

static void test_init_error(void **st)
{
    (void)st;
    struct lbox_rstate s;
    lbox_rs_reset(&s);
    assert_int_equal(lbox_rs_init_error(&s), LBOX_RS_OK);
    assert_int_equal(lbox_rs_init_error(&s), LBOX_RS_BAD_STATE);
    assert_int_equal(lbox_rs_next(&s), LBOX_RS_BAD_STATE);
    assert_int_equal(lbox_rs_queue(&s, ID1), LBOX_RS_BAD_STATE);
    /* After init, init/error is no longer allowed. */
    ready(&s);
    assert_int_equal(lbox_rs_init_error(&s), LBOX_RS_BAD_STATE);
}

static void test_queue_rules(void **st)
{
    (void)st;
    struct lbox_rstate s;
    ready(&s);
    assert_int_equal(lbox_rs_queue(&s, ID1), LBOX_RS_DELIVER);
    assert_int_equal(lbox_rs_queue(&s, ID2), LBOX_RS_BUSY); /* one in flight */
    lbox_rs_reset(&s);
    char longid[80];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    assert_int_equal(lbox_rs_queue(&s, longid), LBOX_RS_BAD_ID);
}

static void test_reset_forgets_invoke(void **st)
{
    (void)st;
    struct lbox_rstate s;
    ready(&s);
    lbox_rs_queue(&s, ID1);
    lbox_rs_take(&s);
    lbox_rs_reset(&s); /* timeout: the runtime is killed */
    assert_int_equal(s.phase, LBOX_RT_STARTED);
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_BAD_ID);
    assert_int_equal(s.n_ext, 0);
}

static void test_extensions_gate_init_and_invoke(void **st)
{
    (void)st;
    struct lbox_rstate s;
    lbox_rs_reset(&s);
    assert_int_equal(lbox_rs_ext_register(&s, "e1", "ext-a", true, true), LBOX_RS_OK);
    assert_int_equal(lbox_rs_ext_register(&s, "e2", "ext-b", false, true), LBOX_RS_OK);
    assert_int_equal(lbox_rs_next(&s), LBOX_RS_PARK);
    assert_false(lbox_rs_init_done(&s)); /* extensions have not called next yet */
    assert_int_equal(lbox_rs_ext_next(&s, "e1"), LBOX_RS_PARK);
    assert_false(lbox_rs_init_done(&s));
    assert_int_equal(lbox_rs_ext_next(&s, "e2"), LBOX_RS_PARK);
    assert_true(lbox_rs_init_done(&s));
    assert_int_equal(lbox_rs_ext_next(&s, "nope"), LBOX_RS_UNKNOWN_EXT);

    /* INVOKE goes to e1 only (e2 subscribed to SHUTDOWN only). */
    assert_int_equal(lbox_rs_queue(&s, ID1), LBOX_RS_DELIVER);
    assert_int_equal(lbox_rs_ext_broadcast(&s, false), 1);
    assert_int_equal(lbox_rs_ext_take(lbox_rs_ext_find(&s, "e1")), LBOX_RS_DELIVER);
    assert_int_equal(lbox_rs_ext_take(lbox_rs_ext_find(&s, "e2")), LBOX_RS_PARK);
    lbox_rs_take(&s);
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_OK);
    assert_false(lbox_rs_invoke_done(&s)); /* e1 still holds INVOKE */
    assert_int_equal(lbox_rs_ext_next(&s, "e1"), LBOX_RS_PARK);
    assert_true(lbox_rs_invoke_done(&s));

    /* SHUTDOWN to both; no more invokes afterwards. */
    assert_int_equal(lbox_rs_ext_broadcast(&s, true), 2);
    assert_int_equal(lbox_rs_ext_take(lbox_rs_ext_find(&s, "e2")), LBOX_RS_DELIVER);
    assert_true(lbox_rs_ext_find(&s, "e2")->shutdown);
    assert_int_equal(lbox_rs_queue(&s, ID2), LBOX_RS_BAD_STATE);
}

/* A reset's SHUTDOWN (timeout, failure) finds extensions anywhere: one busy with INVOKE, one
 * that never asked for an event (its init timed out). Neither is parked, so none is resumed
 * now; each gets SHUTDOWN at its next event/next. One subscribed to INVOKE only gets none. */
static void test_shutdown_reaches_busy_and_unready_extensions(void **st)
{
    (void)st;
    struct lbox_rstate s;
    lbox_rs_reset(&s);
    assert_int_equal(lbox_rs_ext_register(&s, "busy", "ext-a", true, true), LBOX_RS_OK);
    assert_int_equal(lbox_rs_ext_register(&s, "late", "ext-b", true, true), LBOX_RS_OK);
    assert_int_equal(lbox_rs_ext_register(&s, "inv", "ext-c", true, false), LBOX_RS_OK);
    assert_int_equal(lbox_rs_next(&s), LBOX_RS_PARK);
    assert_int_equal(lbox_rs_ext_next(&s, "busy"), LBOX_RS_PARK);
    assert_int_equal(lbox_rs_ext_next(&s, "inv"), LBOX_RS_PARK);
    assert_false(lbox_rs_init_done(&s)); /* "late" never asked */
    assert_int_equal(lbox_rs_queue(&s, ID1), LBOX_RS_DELIVER);
    lbox_rs_ext_broadcast(&s, false);
    assert_int_equal(lbox_rs_ext_take(lbox_rs_ext_find(&s, "busy")), LBOX_RS_DELIVER);
    assert_int_equal(lbox_rs_ext_take(lbox_rs_ext_find(&s, "inv")), LBOX_RS_DELIVER);
    assert_int_equal(lbox_rs_ext_next(&s, "inv"), LBOX_RS_PARK);
    assert_int_equal(lbox_rs_take(&s), LBOX_RS_DELIVER);
    assert_int_equal(lbox_rs_response(&s, ID1), LBOX_RS_OK);

    assert_int_equal(lbox_rs_ext_broadcast(&s, true), 0);
    assert_int_equal(lbox_rs_ext_next(&s, "busy"), LBOX_RS_DELIVER);
    assert_true(lbox_rs_ext_find(&s, "busy")->shutdown);
    assert_int_equal(lbox_rs_ext_next(&s, "late"), LBOX_RS_DELIVER);
    assert_true(lbox_rs_ext_find(&s, "late")->shutdown);
    assert_false(lbox_rs_ext_find(&s, "inv")->has_event);
    /* Holding their SHUTDOWN, they are not idle until they ask again (or exit). */
    assert_false(lbox_rs_invoke_done(&s));
    assert_int_equal(lbox_rs_ext_next(&s, "busy"), LBOX_RS_PARK);
    assert_int_equal(lbox_rs_ext_next(&s, "late"), LBOX_RS_PARK);
    assert_true(lbox_rs_invoke_done(&s));
}

static void test_extension_limits(void **st)
{
    (void)st;
    struct lbox_rstate s;
    lbox_rs_reset(&s);
    char id[8];
    for (int i = 0; i < LBOX_MAX_EXTENSIONS; i++) {
        snprintf(id, sizeof id, "e%d", i);
        assert_int_equal(lbox_rs_ext_register(&s, id, "x", true, true), LBOX_RS_OK);
    }
    assert_int_equal(lbox_rs_ext_register(&s, "e99", "x", true, true), LBOX_RS_TOO_MANY_EXT);
    ready(&s);
    assert_int_equal(lbox_rs_ext_register(&s, "late", "x", true, true), LBOX_RS_BAD_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_then_parked_next_gets_event),
        cmocka_unit_test(test_event_queued_before_next),
        cmocka_unit_test(test_wrong_id_is_400),
        cmocka_unit_test(test_second_response_is_403),
        cmocka_unit_test(test_next_while_running_gets_the_event_again),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_init_error),
        cmocka_unit_test(test_queue_rules),
        cmocka_unit_test(test_reset_forgets_invoke),
        cmocka_unit_test(test_extensions_gate_init_and_invoke),
        cmocka_unit_test(test_shutdown_reaches_busy_and_unready_extensions),
        cmocka_unit_test(test_extension_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
