/* offline.c: offline storage of messages (RFC 6121 §8.5.2.2.1, XEP-0160): chat and normal messages for an
 * account with no available session are stamped with an XEP-0203 delay and kept in the store (bounded
 * per user by limits.max_offline); they are delivered, oldest first, when a session of the user sends
 * initial presence with a non-negative priority. A message for a nonexistent account, or over the
 * limit, is bounced with service-unavailable. Delivery goes in batches that fit in the session's output
 * queue; what is not delivered stays stored. */
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "xmpp/server.h"
#include <string.h>
#include <time.h>

/* pause between two delivery batches of stored messages */
#define OFFLINE_BATCH_DELAY_MS 200

typedef struct off_ctx {
	pl_server *srv;
	char *node, *domain;
	pl_xml_node *msg;
	char *full; /* for delivery: the session to deliver to */
} off_ctx;

static void off_free(off_ctx *x)
{
	free(x->node);
	free(x->domain);
	pl_xml_free(x->msg);
	free(x->full);
	free(x);
}

static void bounce(pl_server *srv, pl_xml_node *msg)
{
	const char *from = pl_xml_attr_get(msg, "from");
	if (!from) return;
	pl_xml_node *e = pl_stanza_error(msg, "cancel", "service-unavailable", NULL);
	pl_route_local(srv, e);
}

static void pushed(void *ud, int status)
{
	off_ctx *x = ud;
	if (status != 0) {
		PL_INFO(0, "offline message for %s@%s refused: %s", x->node, x->domain, pl_strerror(status));
		bounce(x->srv, x->msg);
	}
	off_free(x);
}

static void account_checked(void *ud, int status, const pl_sasl_creds *creds)
{
	off_ctx *x = ud;
	if (status != 0) {
		bounce(x->srv, x->msg);
		off_free(x);
		return;
	}
	/* the user may have come online meanwhile */
	char bare[2100];
	snprintf(bare, sizeof bare, "%s@%s", x->node, x->domain);
	pl_user *u = pl_user_find(x->srv, bare);
	if (u) {
		for (pl_session *s = u->sessions; s; s = s->next_in_user) {
			if (s->available && s->priority >= 0) {
				pl_xml_node *m = x->msg;
				x->msg = NULL;
				pl_route_local(x->srv, m);
				off_free(x);
				return;
			}
		}
	}
	if (!pl_xml_child(x->msg, "delay", PL_NS_DELAY)) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
		pl_xml_node *d = pl_xml_add_elem(x->msg, "delay", PL_NS_DELAY);
		pl_xml_set_attr(d, "from", x->domain);
		pl_xml_set_attr(d, "stamp", stamp);
	}
	char *text = pl_xml_to_string(x->msg, NULL);
	int rc = pl_store_offline_push(x->srv->store, x->domain, x->node, text, x->srv->cfg->max_offline, pushed, x);
	free(text);
	if (rc != 0) {
		bounce(x->srv, x->msg);
		off_free(x);
	}
}

void pl_offline_store(pl_server *srv, const pl_jid *to, pl_xml_node *msg)
{
	char bare[2100];
	snprintf(bare, sizeof bare, "%s@%s", to->node, to->domain);
	pl_user *u = pl_user_find(srv, bare);
	if (u && u->anonymous) { /* anonymous accounts have no storage */
		bounce(srv, msg);
		pl_xml_free(msg);
		return;
	}
	if (!pl_xml_child(msg, "body", NULL)) { /* XEP-0160: only messages with content are kept */
		pl_xml_free(msg);
		return;
	}
	off_ctx *x = PL_NEW(off_ctx);
	x->srv = srv;
	x->node = pl_strdup(to->node);
	x->domain = pl_strdup(to->domain);
	x->msg = msg;
	if (pl_store_account_get(srv->store, to->domain, to->node, account_checked, x) != 0) {
		bounce(srv, msg);
		off_free(x);
	}
}

/* Puts a message that could not be delivered back at the end of the user's offline queue. */
static void push_back(pl_server *srv, const char *node, const char *domain, const char *stanza)
{
	off_ctx *y = PL_NEW(off_ctx);
	y->srv = srv;
	y->node = pl_strdup(node);
	y->domain = pl_strdup(domain);
	if (pl_xml_parse_document(stanza, strlen(stanza), 0, &y->msg) != 0) {
		off_free(y);
		return;
	}
	if (pl_store_offline_push(srv->store, domain, node, stanza, srv->cfg->max_offline, pushed, y) != 0) {
		bounce(srv, y->msg);
		off_free(y);
	}
}

static void redeliver_closed(uv_handle_t *h)
{
	off_ctx *x = h->data;
	free(h);
	off_free(x);
}

/* The previous batch had time to leave the output queue: the next one, if the session is still there. */
static void redeliver(uv_timer_t *t)
{
	off_ctx *x = t->data;
	pl_session *s = pl_session_find(x->srv, x->full);
	if (s && s->ops && !s->closing && s->available && s->priority >= 0 && !x->srv->shutting_down)
		pl_offline_deliver(s);
	uv_close((uv_handle_t *)t, redeliver_closed);
}

/* Delivers the stored messages in a batch that fits comfortably in the session's output queue (half of
 * limits.max_output_queue, at least one message). What does not fit, or what the transport refuses, is
 * put back in order (the store only takes everything at once); after a full batch the next one follows
 * a moment later, so a client that reads gets everything and one that does not loses nothing. */
static void taken(void *ud, int status, const char *const *stanzas, size_t n)
{
	off_ctx *x = ud;
	pl_session *s = pl_session_find(x->srv, x->full);
	size_t budget = (size_t)x->srv->cfg->max_output_queue / 2, used = 0, sent = 0, i = 0;
	for (; i < n; i++) {
		size_t len = strlen(stanzas[i]);
		if (s && !s->closing && sent > 0 && used + len > budget) break;
		pl_xml_node *m = NULL;
		if (pl_xml_parse_document(stanzas[i], len, 0, &m) != 0) {
			PL_ERROR(0, "stored offline message for %s does not parse; dropped", x->full);
			continue;
		}
		if (s && !s->closing) {
			int rc = pl_session_send_xml(s, m);
			pl_xml_free(m);
			if (rc != 0) break; /* the transport refused it: this one and the rest go back */
			used += len;
			sent++;
		} else {
			/* the session went away between the request and now: keep the message */
			pl_route_local(x->srv, m);
		}
	}
	if (sent) PL_INFO(s->conn_id, "delivered %zu offline messages to %s", sent, x->full);
	if (i < n) {
		PL_DEBUG(s ? s->conn_id : 0, "%zu offline messages for %s kept for later", n - i, x->full);
		for (; i < n; i++) push_back(x->srv, s->user->node, s->user->domain, stanzas[i]);
		if (s && !s->closing && s->ops) {
			uv_timer_t *t = PL_NEW(uv_timer_t);
			uv_timer_init(x->srv->loop, t);
			t->data = x;
			uv_timer_start(t, redeliver, OFFLINE_BATCH_DELAY_MS, 0);
			return;
		}
	}
	off_free(x);
}

void pl_offline_deliver(pl_session *s)
{
	if (s->user->anonymous) return;
	off_ctx *x = PL_NEW(off_ctx);
	x->srv = s->srv;
	x->full = pl_strdup(s->full);
	if (pl_store_offline_take(s->srv->store, s->user->domain, s->user->node, taken, x) != 0) off_free(x);
}
