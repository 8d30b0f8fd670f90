/* sm.c: XEP-0198 stream management for a session: counting stanzas sent, the queue of stanzas the
 * client has not acknowledged (shared pl_bytes, so a queued broadcast costs a pointer), processing of
 * acknowledgements, resending after resumption, and what happens to unacknowledged stanzas when the
 * session ends (messages go to offline storage, so a dropped connection loses nothing; an anonymous
 * account has none, so they bounce to their senders).
 * Negotiation (<enable/>, <resume/>, <r/>, <a/>) is parsed in stream.c. */
#include "core/alloc.h"
#include "core/log.h"
#include "xmpp/server.h"
#include "xmpp/sasl.h"
#include <sodium.h>
#include <string.h>

typedef struct pl_sm_item {
	pl_bytes *b;
	struct pl_sm_item *next;
} pl_sm_item;

#define SM_REQUEST_EVERY 5

void pl_sm_enable(pl_session *s, int resume)
{
	s->sm_enabled = 1;
	s->sm_h_in = 0;
	s->sm_h_out = 0;
	s->sm_acked = 0;
	/* an anonymous account cannot log in again as the same user, so its session is never resumable */
	if (resume && s->srv->cfg->sm_resume_timeout > 0 && !s->user->anonymous) {
		unsigned char rnd[18];
		randombytes_buf(rnd, sizeof rnd);
		s->sm_id = pl_base64_encode(rnd, sizeof rnd);
		for (char *p = s->sm_id; *p; p++) /* attribute- and URL-safe */
			if (*p == '+') *p = '-';
			else if (*p == '/') *p = '_';
		s->sm_resumable = 1;
		HASH_ADD_KEYPTR(hh_sm, s->srv->sm_sessions, s->sm_id, strlen(s->sm_id), s);
	}
}

void pl_sm_count_out(pl_session *s, pl_bytes *b)
{
	pl_sm_item *it = PL_NEW(pl_sm_item);
	it->b = pl_bytes_ref(b);
	if (s->sm_queue_tail) s->sm_queue_tail->next = it;
	else s->sm_queue_head = it;
	s->sm_queue_tail = it;
	s->sm_queued++;
	s->sm_h_out++;
	if (s->sm_queued > (size_t)s->srv->cfg->sm_max_unacked) {
		/* the client does not acknowledge: stop buffering for it (a detached session is ended by
		 * pl_session_send on the next loop turn) */
		PL_WARN(s->conn_id, "%s: %zu stanzas unacknowledged, closing", s->full, s->sm_queued);
		if (s->ops) {
			const pl_session_ops *ops = s->ops;
			ops->close(s, "policy-violation", "too many unacknowledged stanzas");
		}
		s->sm_resumable = 0;
		return;
	}
	if (s->ops && s->sm_queued % SM_REQUEST_EVERY == 0) {
		static pl_bytes *req;
		if (!req) req = pl_bytes_new("<r xmlns='urn:xmpp:sm:3'/>", 26);
		s->ops->send(s, req);
	}
}

int pl_sm_ack(pl_session *s, uint32_t h)
{
	uint32_t newly = h - s->sm_acked; /* 32-bit wrap-around as XEP-0198 §5 says */
	if (newly > s->sm_queued) return -1;
	while (newly-- > 0) {
		pl_sm_item *it = s->sm_queue_head;
		s->sm_queue_head = it->next;
		if (!s->sm_queue_head) s->sm_queue_tail = NULL;
		s->sm_queued--;
		pl_bytes_unref(it->b);
		free(it);
	}
	s->sm_acked = h;
	return 0;
}

void pl_sm_resend(pl_session *s)
{
	for (pl_sm_item *it = s->sm_queue_head; it && s->ops; it = it->next)
		if (s->ops->send(s, it->b) != 0) break;
}

/* An unacknowledged stanza is parsed back; messages worth keeping go to offline storage. */
static void sm_requeue(pl_session *s, pl_bytes *b)
{
	pl_xml_node *st = NULL;
	if (pl_xml_parse_document(b->data, b->len, 0, &st) != 0) return;
	const char *type = pl_xml_attr_get(st, "type");
	if (strcmp(st->name, "message") != 0 || (type && strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0) ||
		!pl_xml_child(st, "body", NULL)) {
		pl_xml_free(st);
		return;
	}
	pl_xml_node *delay = pl_xml_child(st, "delay", PL_NS_DELAY);
	if (!delay && !s->user->anonymous) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
		delay = pl_xml_add_elem(st, "delay", PL_NS_DELAY);
		pl_xml_set_attr(delay, "from", s->user->domain);
		pl_xml_set_attr(delay, "stamp", stamp);
	}
	pl_jid to;
	if (pl_jid_make(s->user->node, s->user->domain, NULL, &to) == 0) {
		/* another available resource may take it now; otherwise offline storage, which bounces it
		 * with service-unavailable for an anonymous account */
		pl_xml_set_attr(st, "to", s->user->bare);
		pl_route_local(s->srv, st);
		pl_jid_clear(&to);
	} else {
		pl_xml_free(st);
	}
}

void pl_sm_drop_queue(pl_session *s, int to_offline)
{
	pl_sm_item *it = s->sm_queue_head;
	s->sm_queue_head = s->sm_queue_tail = NULL;
	s->sm_queued = 0;
	while (it) {
		pl_sm_item *n = it->next;
		if (to_offline) sm_requeue(s, it->b);
		pl_bytes_unref(it->b);
		free(it);
		it = n;
	}
}
