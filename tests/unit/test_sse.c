/*
 * test_sse.c: an event stream's state (worker/wk_sse.h): the send key,
 * events and their data lines, the cursor as the id of the events after
 * which it changed, and a cursor read back from Last-Event-ID becoming
 * the resume it stands for (after a refused resume, in a new epoch, after
 * a refused subscribe); the rooms= list and its escapes; held input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../proto/err.h"
#include "../../proto/url.h"
#include "../../worker/wk_frame.h"
#include "../../worker/wk_sse.h"

/* The event for text as a NUL-terminated string (malloc'd). */
static char *
event(struct wk_sse *s, const char *text)
{
	struct wk_buf *b = wk_sse_event(s, text, strlen(text));
	char *out;

	assert_non_null(b);
	out = strndup(b->data, b->len);
	wk_buf_unref(b);
	return out;
}

/* The id of an event, "" when it has none (malloc'd). */
static char *
id_of(const char *ev)
{
	const char *nl;

	if (strncmp(ev, "id: ", 4) != 0)
		return strdup("");
	nl = strchr(ev, '\n');
	return strndup(ev + 4, (size_t)(nl - ev - 4));
}

/* The resume a new stream makes of the cursor id. */
static json_t *
resume_from(const char *id)
{
	struct wk_sse *s = wk_sse_new();
	char *text;
	json_t *j;

	assert_int_equal(wk_sse_set_request(s, id, strlen(id), NULL, 0),
			 WSD_OK);
	text = wk_sse_take_resume(s);
	j = text ? json_loads(text, 0, NULL) : NULL;
	assert_null(wk_sse_take_resume(s)); /* once */
	free(text);
	wk_sse_free(s);
	return j;
}

/* The resume the stream's cursor stands for now (after one more event). */
static json_t *
resume_now(struct wk_sse *s)
{
	char *ev = event(s, "{}"), *id = id_of(ev);
	json_t *r = resume_from(id);

	free(id);
	free(ev);
	return r;
}

static void
test_key(void **state)
{
	struct wk_sse *a = wk_sse_new(), *b = wk_sse_new();
	const char *k = wk_sse_key(a);
	char other[WK_SSE_KEY_LEN + 1];
	size_t i;

	(void)state;
	assert_int_equal(strlen(k), WK_SSE_KEY_LEN);
	for (i = 0; i < WK_SSE_KEY_LEN; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
				       "nopqrstuvwxyz0123456789-_",
				       k[i]));
	assert_string_not_equal(k, wk_sse_key(b));
	assert_true(wk_sse_key_is(a, k, WK_SSE_KEY_LEN));
	assert_false(wk_sse_key_is(a, k, WK_SSE_KEY_LEN - 1));
	memcpy(other, k, sizeof(other));
	other[5] = other[5] == 'x' ? 'y' : 'x';
	assert_false(wk_sse_key_is(a, other, WK_SSE_KEY_LEN));
	assert_false(wk_sse_key_is(a, wk_sse_key(b), WK_SSE_KEY_LEN));
	wk_sse_free(a);
	wk_sse_free(b);
}

static void
test_event_lines(void **state)
{
	struct wk_sse *s = wk_sse_new();
	char *ev;
	struct wk_buf *c;

	(void)state;
	/* Nothing changed the cursor: no id line. */
	ev = event(s, "{\"type\":\"pong\"}");
	assert_string_equal(ev, "data: {\"type\":\"pong\"}\n\n");
	free(ev);
	/* Each line of the text is a data line; a CR is dropped. */
	ev = event(s, "a\nb\r\nc");
	assert_string_equal(ev, "data: a\ndata: b\ndata: c\n\n");
	free(ev);
	c = wk_sse_comment();
	assert_int_equal(c->len, 3);
	assert_memory_equal(c->data, ":\n\n", 3);
	wk_buf_unref(c);
	wk_sse_free(s);
}

static void
test_cursor_round_trip(void **state)
{
	struct wk_sse *s = wk_sse_new();
	char *ev, *id;
	json_t *r, *rooms;

	(void)state;
	wk_sse_token(s, "tok1", 4, 1);
	wk_sse_joined(s, "chat", 4, 7, "ep1", 3);
	ev = event(s, "{\"type\":\"subscribed\"}");
	id = id_of(ev);
	assert_true(strlen(id) > 0);
	free(ev);
	/* Unchanged since: the next event has no id. */
	ev = event(s, "{\"type\":\"pong\"}");
	assert_int_equal(strncmp(ev, "data: ", 6), 0);
	free(ev);
	r = resume_from(id);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "type")),
			    "resume");
	assert_string_equal(json_string_value(json_object_get(r, "token")),
			    "tok1");
	rooms = json_object_get(r, "rooms");
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(rooms, "chat"), "seq")),
			 7);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(rooms, "chat"), "epoch")),
			    "ep1");
	json_decref(r);
	free(id);

	/* A delivery moves the room on, a leave drops it, a shutdown's
	 * token replaces the welcome's. */
	wk_sse_advance(s, "chat", 4, 9, 0);
	wk_sse_joined(s, "news", 4, 2, "ep2", 3);
	wk_sse_left(s, "news", 4);
	wk_sse_token(s, "tok2", 4, 0);
	r = resume_now(s);
	assert_string_equal(json_string_value(json_object_get(r, "token")),
			    "tok2");
	rooms = json_object_get(r, "rooms");
	assert_int_equal(json_object_size(rooms), 1);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(rooms, "chat"), "seq")),
			 9);
	json_decref(r);
	wk_sse_free(s);
}

#define GOT "{\"log\":{\"seq\":12,\"epoch\":\"e\"}}"

static void
test_since_and_resume(void **state)
{
	struct wk_sse *s = wk_sse_new(), *t;
	char *ev, *id;
	json_t *r, *asked, *got;

	(void)state;
	/* A subscribe with since 3 to a room at 10: the client has only 3
	 * until the replay moves it on. */
	wk_sse_want(s, "log", 3, 1, 3);
	wk_sse_joined(s, "log", 3, 10, "e", 1);
	ev = event(s, "{}");
	id = id_of(ev);
	r = resume_from(id);
	assert_int_equal(
	    json_integer_value(json_object_get(
		json_object_get(json_object_get(r, "rooms"), "log"), "seq")),
	    3);
	json_decref(r);
	free(ev);

	/* A stream that resumes: the welcome's token does not enter the
	 * cursor before the resume is answered; the answer's rooms come in
	 * at the seqs the resume asked for. */
	t = wk_sse_new();
	assert_int_equal(wk_sse_set_request(t, id, strlen(id), NULL, 0),
			 WSD_OK);
	free(id);
	free(wk_sse_take_resume(t));
	wk_sse_token(t, "fresh", 5, 1);
	ev = event(t, "{\"type\":\"welcome\"}");
	assert_int_equal(strncmp(ev, "data: ", 6), 0); /* no id yet */
	free(ev);
	asked = json_pack("{s:{s:i, s:s}}", "log", "seq", 3, "epoch", "e");
	wk_sse_resuming(t, asked);
	json_decref(asked);
	got = json_loads(GOT, 0, NULL);
	wk_sse_resumed(t, "renewed", 7, got);
	json_decref(got);
	r = resume_now(t);
	assert_string_equal(json_string_value(json_object_get(r, "token")),
			    "renewed");
	assert_int_equal(
	    json_integer_value(json_object_get(
		json_object_get(json_object_get(r, "rooms"), "log"), "seq")),
	    3);
	json_decref(r);
	wk_sse_free(t);
	wk_sse_free(s);
}

static void
test_bad_cursors(void **state)
{
	static const char *const bad[] = {
	    "not a cursor",
	    "{}",			       /* no token */
	    "{\"t\":1}",		       /* not a string */
	    "{\"t\":\"x\",\"r\":[]}",	       /* rooms a list */
	    "{\"t\":\"x\",\"r\":{\"a\":[1]}}", /* no epoch */
	    "{\"t\":\"x\",\"r\":{\"a\":[\"1\",\"e\"]}}",
	    "{\"t\":\"x\",\"t\":\"y\"}", /* twice */
	    "{\"t\":\"x\"",		 /* cut short */
	};
	struct wk_sse *s;
	size_t i;
	char *big, *r;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = wk_sse_new();
		assert_int_equal(
		    wk_sse_set_request(s, bad[i], strlen(bad[i]), NULL, 0),
		    WSD_OK);
		assert_null(wk_sse_take_resume(s));
		wk_sse_free(s);
	}
	/* Over WK_SSE_CURSOR_MAX: not read at all. */
	/* A well-formed cursor, one byte over: a long token. */
	big = malloc(WK_SSE_CURSOR_MAX + 2);
	memset(big, 'A', WK_SSE_CURSOR_MAX + 1);
	memcpy(big, "{\"t\":\"", 6);
	memcpy(big + WK_SSE_CURSOR_MAX - 1, "\"}", 2);
	big[WK_SSE_CURSOR_MAX + 1] = '\0';
	s = wk_sse_new();
	assert_int_equal(
	    wk_sse_set_request(s, big, WK_SSE_CURSOR_MAX + 1, NULL, 0), WSD_OK);
	assert_null(wk_sse_take_resume(s));
	wk_sse_free(s);
	/* The same at the bound is read. */
	memcpy(big + WK_SSE_CURSOR_MAX - 2, "\"}", 2);
	big[WK_SSE_CURSOR_MAX] = '\0';
	s = wk_sse_new();
	assert_int_equal(wk_sse_set_request(s, big, WK_SSE_CURSOR_MAX, NULL, 0),
			 WSD_OK);
	free(r = wk_sse_take_resume(s));
	assert_non_null(r);
	wk_sse_free(s);
	free(big);
}

static void
test_rooms_list(void **state)
{
	struct wk_sse *s = wk_sse_new();
	char out[32], *rooms;

	(void)state;
	assert_int_equal(wk_sse_set_request(s, NULL, 0, "a%2Cb,c%20d", 11),
			 WSD_OK);
	rooms = wk_sse_take_rooms(s);
	assert_string_equal(rooms, "a,b,c d");
	free(rooms);
	assert_null(wk_sse_take_rooms(s));
	wk_sse_free(s);
	s = wk_sse_new();
	assert_int_equal(wk_sse_set_request(s, NULL, 0, "x%zz", 4), WSD_OK);
	assert_null(wk_sse_take_rooms(s));
	wk_sse_free(s);

	assert_int_equal(url_decode("%41%62", 6, out), 2);
	assert_string_equal(out, "Ab");
	assert_int_equal(url_decode("%4", 2, out), -1);
	assert_int_equal(url_decode("a%00b", 5, out), -1);
	assert_int_equal(url_decode("", 0, out), 0);
}

static void
test_resume_refused(void **state)
{
	struct wk_sse *s = wk_sse_new();
	static const char cur[] = "{\"t\":\"old\",\"r\":{\"a\":[4,\"e1\"]}}";
	json_t *r;

	(void)state;
	assert_int_equal(wk_sse_set_request(s, cur, strlen(cur), NULL, 0),
			 WSD_OK);
	free(wk_sse_take_resume(s));
	wk_sse_token(s, "fresh", 5, 1);
	wk_sse_resume_failed(s);
	/* The stream goes on as the welcome's session: its token. */
	r = resume_now(s);
	assert_string_equal(json_string_value(json_object_get(r, "token")),
			    "fresh");
	json_decref(r);
	wk_sse_free(s);
}

static void
test_resumed_in_a_new_epoch(void **state)
{
	struct wk_sse *s = wk_sse_new();
	json_t *asked, *r, *rooms, *answer;
	static const char got[] = "{\"a\":{\"seq\":3,\"epoch\":\"new\"},"
				  "\"b\":{\"seq\":5,\"epoch\":\"same\"},"
				  "\"c\":{\"seq\":2,\"epoch\":\"same\"}}";

	(void)state;
	/* a: the epoch changed (nothing replayed); b: the client is at 4 of
	 * 5 (the replay moves it on); c: the client is ahead (nothing
	 * replayed). */
	asked = json_pack("{s:{s:i, s:s}, s:{s:i, s:s}, s:{s:i, s:s}}", "a",
			  "seq", 100, "epoch", "old", "b", "seq", 4, "epoch",
			  "same", "c", "seq", 9, "epoch", "same");
	wk_sse_resuming(s, asked);
	json_decref(asked);
	answer = json_loads(got, 0, NULL);
	wk_sse_resumed(s, "tok", 3, answer);
	json_decref(answer);
	r = resume_now(s);
	rooms = json_object_get(r, "rooms");
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(rooms, "a"), "seq")),
			 3);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(rooms, "a"), "epoch")),
			    "new");
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(rooms, "b"), "seq")),
			 4);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(rooms, "c"), "seq")),
			 2);
	json_decref(r);
	wk_sse_free(s);
}

static void
test_want_cleared(void **state)
{
	struct wk_sse *s = wk_sse_new();
	json_t *r;

	(void)state;
	/* A subscribe with since that was refused, then one without: the
	 * room starts at its seq, not at the old since. */
	wk_sse_want(s, "r", 1, 1, 2);
	wk_sse_want(s, "r", 1, 0, 0);
	wk_sse_joined(s, "r", 1, 8, "e", 1);
	r = resume_now(s);
	assert_int_equal(
	    json_integer_value(json_object_get(
		json_object_get(json_object_get(r, "rooms"), "r"), "seq")),
	    8);
	json_decref(r);
	wk_sse_free(s);
}

static void
test_hold(void **state)
{
	struct wk_sse *s = wk_sse_new();
	const char *p;
	size_t len;

	(void)state;
	assert_int_equal(wk_sse_hold(s, "abc", 3, 8), WSD_OK);
	assert_int_equal(wk_sse_hold(s, "defgh", 5, 8), WSD_OK);
	assert_int_equal(wk_sse_hold(s, "i", 1, 8), WSD_EFULL);
	p = wk_sse_held(s, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(p, "abcdefgh", 8);
	wk_sse_take_held(s, 3);
	p = wk_sse_held(s, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(p, "defgh", 5);
	wk_sse_take_held(s, 5);
	wk_sse_held(s, &len);
	assert_int_equal(len, 0);
	wk_sse_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key),
	    cmocka_unit_test(test_event_lines),
	    cmocka_unit_test(test_cursor_round_trip),
	    cmocka_unit_test(test_since_and_resume),
	    cmocka_unit_test(test_bad_cursors),
	    cmocka_unit_test(test_rooms_list),
	    cmocka_unit_test(test_resume_refused),
	    cmocka_unit_test(test_resumed_in_a_new_epoch),
	    cmocka_unit_test(test_want_cleared),
	    cmocka_unit_test(test_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
