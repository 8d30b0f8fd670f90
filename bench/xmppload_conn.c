/* xmppload_conn.c: one XMPP client stream of xmppload: TCP (libuv), STARTTLS through memory BIOs
 * (OpenSSL, no certificate verification: the benchmark servers use self-signed certificates), the XML
 * stream (expat with namespaces) turned into small stanza trees, and the negotiation up to a bound
 * resource (or an in-band registration). Once ready, stanzas go to the scenario's on_stanza. Over
 * WebSocket (opts->ws), xmppload_ws.c carries the bytes and hands each message to xl_conn_feed_message,
 * which parses it as its own document (the parser is reset per message, depth starts at 1 so the
 * message's element is a stanza root); the negotiation is the same without STARTTLS.
 *
 * Lifetime: xl_conn_start → ... → on_ready → (xl_conn_send)* → xl_conn_close or failure → on_closed.
 * Nothing is freed inside libuv or expat callbacks that are still running: the expat parser, the SSL and
 * the tree live until the handle's close callback. */
#include "xmppload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <expat.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define NS_STREAM "http://etherx.jabber.org/streams"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_CLIENT "jabber:client"
#define NS_REGISTER "jabber:iq:register"
#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"

static SSL_CTX *tls_ctx;
char xl_tls_info[128];
static char read_buf[65536]; /* one loop thread: alloc_cb is always followed by its read_cb */

struct write_req {
	uv_write_t req;
	struct xl_conn *c;
	size_t len;
	char data[];
};

static void fail(struct xl_conn *c, const char *why);
static void parser_setup(struct xl_conn *c);

int xl_tls_init(void)
{
	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx) return -1;
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
	return 0;
}

/* ---- stanza trees ---- */

struct xl_node *xl_node_child(struct xl_node *n, const char *qname)
{
	for (struct xl_node *k = n ? n->child : NULL; k; k = k->next)
		if (!strcmp(k->name, qname)) return k;
	return NULL;
}

const char *xl_node_attr(struct xl_node *n, const char *name)
{
	for (char **a = n->attrs; a && *a; a += 2)
		if (!strcmp(a[0], name)) return a[1];
	return NULL;
}

static void node_free(struct xl_node *n)
{
	while (n) {
		struct xl_node *next = n->next;
		node_free(n->child);
		for (char **a = n->attrs; a && *a; a++)
			free(*a);
		free(n->attrs);
		free(n->name);
		free(n->text);
		free(n);
		n = next;
	}
}

/* ---- output ---- */

static void on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	w->c->out_pending -= w->len;
	if (status < 0 && status != UV_ECANCELED) fail(w->c, "write error");
	free(w);
}

int xl_conn_write_raw(struct xl_conn *c, const char *data, size_t len)
{
	if (uv_is_closing((uv_handle_t *)&c->tcp)) return -1;
	if (c->out_pending + len > XL_MAX_OUTPUT) {
		fail(c, "output queue full");
		return -1;
	}
	struct write_req *w = xl_malloc(sizeof *w + len);
	w->c = c;
	w->len = len;
	memcpy(w->data, data, len);
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (r < 0) {
		free(w);
		fail(c, "write error");
		return -1;
	}
	c->out_pending += len;
	return 0;
}

/* Moves what OpenSSL produced into the socket. */
static int tls_flush(struct xl_conn *c)
{
	char buf[16384];
	int n;
	while ((n = BIO_read(c->wbio, buf, sizeof buf)) > 0)
		if (xl_conn_write_raw(c, buf, (size_t)n) < 0) return -1;
	return 0;
}

int xl_conn_send(struct xl_conn *c, const char *xml, size_t len)
{
	if (c->failed || uv_is_closing((uv_handle_t *)&c->tcp)) return -1;
	if (c->ws) return xl_ws_send(c, xml, len);
	if (!c->ssl) return xl_conn_write_raw(c, xml, len);
	if (!c->tls_up) return -1;
	if (SSL_write(c->ssl, xml, (int)len) != (int)len) {
		fail(c, "tls write");
		return -1;
	}
	return tls_flush(c);
}

int xl_conn_send_batch(struct xl_conn *c, const char *buf, const size_t *lens, int n)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += lens[i];
	if (!c->ws) return xl_conn_send(c, buf, total);
	if (c->failed || uv_is_closing((uv_handle_t *)&c->tcp)) return -1;
	return xl_ws_send_batch(c, buf, lens, n);
}

void xl_conn_keepalive(struct xl_conn *c)
{
	if (c->failed || uv_is_closing((uv_handle_t *)&c->tcp)) return;
	if (c->ws)
		xl_ws_send_ping(c);
	else
		xl_conn_send(c, " ", 1);
}

/* Over TCP stanzas inherit jabber:client from the stream header; a WebSocket message stands alone, so its
 * stanza names the namespace itself (RFC 7395 §3.3.3). */
const char *xl_conn_client_ns(const struct xl_conn *c)
{
	return c->ws ? " xmlns='" NS_CLIENT "'" : "";
}

static int send_str(struct xl_conn *c, const char *s)
{
	return xl_conn_send(c, s, strlen(s));
}

void xl_conn_send_open(struct xl_conn *c)
{
	char h[512];
	if (c->ws) {
		snprintf(h, sizeof h, "<open xmlns='" NS_FRAMING "' to='%s' version='1.0'/>",
		         c->opts->domain);
		send_str(c, h);
		return;
	}
	snprintf(h, sizeof h,
	         "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
	         "xmlns:stream='" NS_STREAM "' version='1.0'>",
	         c->opts->domain);
	send_str(c, h);
}

/* ---- closing ---- */

static void on_close(uv_handle_t *h)
{
	struct xl_conn *c = h->data;
	if (c->ssl) SSL_free(c->ssl); /* frees both BIOs */
	c->ssl = c->rbio = c->wbio = NULL;
	if (c->parser) XML_ParserFree(c->parser);
	c->parser = NULL;
	node_free(c->root);
	c->root = c->cur = NULL;
	free(c->client_first_bare);
	c->client_first_bare = NULL;
	xl_ws_free(c);
	c->state = XL_S_CLOSED;
	c->ops->on_closed(c);
}

void xl_conn_abort(struct xl_conn *c)
{
	c->closing = 1;
	if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	xl_conn_abort(req->data);
}

void xl_conn_close(struct xl_conn *c)
{
	if (c->closing || uv_is_closing((uv_handle_t *)&c->tcp)) return;
	if (c->state < XL_S_STREAM) { /* not connected yet */
		xl_conn_abort(c);
		return;
	}
	if (c->ws) {
		send_str(c, "<close xmlns='" NS_FRAMING "'/>");
		if (!c->failed) xl_ws_send_close(c);
	} else {
		send_str(c, "</stream:stream>");
	}
	c->closing = 1;
	c->state = XL_S_CLOSING;
	c->shutdown_req.data = c;
	if (uv_is_closing((uv_handle_t *)&c->tcp) ||
	    uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
		xl_conn_abort(c);
}

void xl_conn_fail(struct xl_conn *c, const char *why)
{
	fail(c, why);
}

static void fail(struct xl_conn *c, const char *why)
{
	if (c->failed || c->closing) {
		xl_conn_abort(c);
		return;
	}
	c->failed = 1;
	if (why != c->why) snprintf(c->why, sizeof c->why, "%s", why);
	if (c->parser) XML_StopParser(c->parser, XML_FALSE);
	c->ops->on_fail(c, c->why);
	xl_conn_abort(c);
}

/* ---- negotiation ---- */

static void become_ready(struct xl_conn *c)
{
	c->state = XL_S_READY;
	c->t_ready = uv_hrtime();
	if (c->mode == XL_MODE_LOGIN && c->opts->presence) {
		char p[64];
		snprintf(p, sizeof p, "<presence%s/>", xl_conn_client_ns(c));
		send_str(c, p);
	}
	c->ops->on_ready(c);
}

static void start_tls(struct xl_conn *c)
{
	c->ssl = SSL_new(tls_ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_tlsext_host_name(c->ssl, c->opts->domain);
	SSL_set_connect_state(c->ssl);
	c->state = XL_S_TLS;
	c->restart = 1; /* the plaintext stream ends here */
	XML_StopParser(c->parser, XML_FALSE);
	SSL_do_handshake(c->ssl);
	tls_flush(c);
}

static void on_features(struct xl_conn *c, struct xl_node *f)
{
	char buf[1024];
	if (!c->ssl && c->opts->use_tls) {
		if (!xl_node_child(f, NS_TLS " starttls")) {
			fail(c, "no starttls offered");
			return;
		}
		send_str(c, "<starttls xmlns='" NS_TLS "'/>");
		c->state = XL_S_TLS;
		return;
	}
	if (c->mode == XL_MODE_REGISTER) {
		snprintf(buf, sizeof buf,
		         "<iq%s type='set' id='reg' to='%s'><query xmlns='" NS_REGISTER
		         "'><username>%s</username>"
		         "<password>%s</password></query></iq>",
		         xl_conn_client_ns(c), c->opts->domain, c->user, c->opts->password);
		c->state = XL_S_REGISTER;
		send_str(c, buf);
		return;
	}
	if (!c->authed) {
		const char *want = c->opts->plain ? "PLAIN" : "SCRAM-SHA-1";
		struct xl_node *mechs = xl_node_child(f, NS_SASL " mechanisms");
		int found = 0;
		for (struct xl_node *m = mechs ? mechs->child : NULL; m; m = m->next)
			if (m->text && !strcmp(m->text, want)) found = 1;
		if (!found) {
			snprintf(c->why, sizeof c->why, "mechanism %s not offered", want);
			fail(c, c->why);
			return;
		}
		char data[512];
		int n = c->opts->plain ? xl_plain_initial(c->user, c->opts->password, data, sizeof data)
		                       : xl_scram_first(c, data, sizeof data);
		if (n < 0) {
			fail(c, "sasl encode");
			return;
		}
		snprintf(buf, sizeof buf, "<auth xmlns='" NS_SASL "' mechanism='%s'>%s</auth>", want, data);
		c->state = XL_S_AUTH;
		send_str(c, buf);
		return;
	}
	if (!xl_node_child(f, NS_BIND " bind")) {
		fail(c, "no bind offered");
		return;
	}
	struct xl_node *sess = xl_node_child(f, NS_SESSION " session");
	c->session_needed = sess && !xl_node_child(sess, NS_SESSION " optional");
	snprintf(buf, sizeof buf,
	         "<iq%s type='set' id='bind'><bind xmlns='" NS_BIND "'><resource>%s</resource></bind></iq>",
	         xl_conn_client_ns(c), c->opts->resource);
	c->state = XL_S_BIND;
	send_str(c, buf);
}

static void on_iq(struct xl_conn *c, struct xl_node *iq)
{
	const char *id = xl_node_attr(iq, "id"), *type = xl_node_attr(iq, "type");
	if (!id || !type) return;
	if (c->state == XL_S_REGISTER && !strcmp(id, "reg")) {
		if (!strcmp(type, "result")) {
			become_ready(c);
		} else {
			struct xl_node *e = xl_node_child(iq, NS_CLIENT " error");
			if (e && xl_node_child(e, "urn:ietf:params:xml:ns:xmpp-stanzas conflict")) {
				c->reg_conflict = 1;
				become_ready(c);
			} else {
				struct xl_node *k = e ? e->child : NULL;
				const char *sp = k ? strchr(k->name, ' ') : NULL;
				snprintf(c->why, sizeof c->why, "registration refused: %s",
				         sp ? sp + 1 : "?");
				fail(c, c->why);
			}
		}
		return;
	}
	if (c->state == XL_S_BIND && !strcmp(id, "bind")) {
		struct xl_node *b = xl_node_child(iq, NS_BIND " bind");
		struct xl_node *j = xl_node_child(b, NS_BIND " jid");
		if (strcmp(type, "result") || !j || !j->text) {
			fail(c, "bind failed");
			return;
		}
		snprintf(c->jid, sizeof c->jid, "%s", j->text);
		if (c->session_needed) {
			char sess[256];
			snprintf(sess, sizeof sess,
			         "<iq%s type='set' id='sess'><session xmlns='" NS_SESSION "'/></iq>",
			         xl_conn_client_ns(c));
			send_str(c, sess);
		} else
			become_ready(c);
		return;
	}
	if (c->state == XL_S_BIND && !strcmp(id, "sess")) {
		if (strcmp(type, "result"))
			fail(c, "session failed");
		else
			become_ready(c);
		return;
	}
	if (c->state == XL_S_READY) {
		/* answer server pings (XEP-0199) and anything else addressed to us with an error-free result
		 */
		if (!strcmp(type, "get") && xl_node_child(iq, "urn:xmpp:ping ping")) {
			char buf[512];
			const char *from = xl_node_attr(iq, "from");
			snprintf(buf, sizeof buf, "<iq%s type='result' id='%.100s'%s%.200s%s/>",
			         xl_conn_client_ns(c), id, from ? " to='" : "", from ? from : "",
			         from ? "'" : "");
			send_str(c, buf);
			return;
		}
		c->ops->on_stanza(c, iq);
	}
}

static void on_stanza(struct xl_conn *c, struct xl_node *n)
{
	char buf[1024];
	if (!strcmp(n->name, NS_STREAM " features")) {
		on_features(c, n);
	} else if (!strcmp(n->name, NS_TLS " proceed")) {
		start_tls(c);
	} else if (!strcmp(n->name, NS_TLS " failure")) {
		fail(c, "starttls failure");
	} else if (!strcmp(n->name, NS_SASL " challenge")) {
		if (c->server_sig_len) { /* final challenge carrying v= (RFC 6120 allows it) */
			if (xl_scram_verify(c, n->text ? n->text : "")) {
				fail(c, "bad server signature");
				return;
			}
			send_str(c, "<response xmlns='" NS_SASL "'/>");
			c->server_sig_len = 0;
			return;
		}
		char data[800];
		if (xl_scram_final(c, n->text ? n->text : "", data, sizeof data) < 0) {
			fail(c, "bad scram challenge");
			return;
		}
		snprintf(buf, sizeof buf, "<response xmlns='" NS_SASL "'>%s</response>", data);
		send_str(c, buf);
	} else if (!strcmp(n->name, NS_SASL " success")) {
		if (!c->opts->plain && c->server_sig_len && xl_scram_verify(c, n->text ? n->text : "")) {
			fail(c, "bad server signature");
			return;
		}
		c->authed = 1;
		c->restart = 1;
		XML_StopParser(c->parser, XML_FALSE);
		xl_conn_send_open(c);
	} else if (!strcmp(n->name, NS_SASL " failure")) {
		struct xl_node *k = n->child;
		snprintf(c->why, sizeof c->why, "sasl failure: %s", k ? strchr(k->name, ' ') + 1 : "?");
		fail(c, c->why);
	} else if (!strcmp(n->name, NS_STREAM " error")) {
		struct xl_node *k = n->child;
		const char *sp = k ? strchr(k->name, ' ') : NULL;
		snprintf(c->why, sizeof c->why, "stream error: %s", sp ? sp + 1 : "?");
		fail(c, c->why);
	} else if (!strcmp(n->name, NS_FRAMING " open")) {
		/* the stream header over WebSocket: nothing to do */
	} else if (!strcmp(n->name, NS_FRAMING " close")) {
		fail(c, "server closed the stream");
	} else if (!strcmp(n->name, NS_CLIENT " iq")) {
		on_iq(c, n);
	} else if (c->state == XL_S_READY) {
		c->ops->on_stanza(c, n);
	}
}

/* ---- expat handlers ---- */

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct xl_conn *c = ud;
	if (c->depth++ == 0) {
		if (strcmp(name, NS_STREAM " stream")) fail(c, "not a stream");
		return;
	}
	if (c->nodes >= XL_MAX_NODES) {
		c->overflow = 1;
		return;
	}
	struct xl_node *n = xl_calloc(1, sizeof *n);
	c->nodes++;
	n->name = xl_strdup(name);
	size_t na = 0;
	while (attrs[na])
		na++;
	n->attrs = xl_calloc(na + 1, sizeof(char *));
	for (size_t i = 0; i < na; i++)
		n->attrs[i] = xl_strdup(attrs[i]);
	if (c->depth == 2) {
		c->root = n;
	} else {
		n->parent = c->cur;
		if (c->cur->last)
			c->cur->last->next = n;
		else
			c->cur->child = n;
		c->cur->last = n;
	}
	c->cur = n;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct xl_conn *c = ud;
	c->depth--;
	if (c->depth == 0) {
		fail(c, "server closed the stream");
		return;
	}
	if (c->overflow) { /* elements beyond the node limit were not built */
		if (c->depth == 1) {
			node_free(c->root);
			c->root = c->cur = NULL;
			c->nodes = 0;
			c->overflow = 0;
		}
		return;
	}
	if (c->depth > 1) {
		c->cur = c->cur->parent;
		return;
	}
	struct xl_node *root = c->root;
	c->root = c->cur = NULL;
	c->nodes = 0;
	if (!c->failed && !c->closing) on_stanza(c, root);
	node_free(root);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct xl_conn *c = ud;
	if (!c->cur || c->overflow || len <= 0) return;
	struct xl_node *n = c->cur;
	if (n->text_len + (size_t)len > XL_MAX_TEXT) {
		c->overflow = 1;
		return;
	}
	n->text = realloc(n->text, n->text_len + (size_t)len + 1);
	if (!n->text) abort();
	memcpy(n->text + n->text_len, s, (size_t)len);
	n->text_len += (size_t)len;
	n->text[n->text_len] = 0;
}

static void parser_setup(struct xl_conn *c)
{
	if (!c->parser)
		c->parser = XML_ParserCreateNS("UTF-8", ' ');
	else
		XML_ParserReset(c->parser, "UTF-8");
	if (!c->parser) abort();
	XML_SetUserData(c->parser, c);
	XML_SetElementHandler(c->parser, on_start, on_end);
	XML_SetCharacterDataHandler(c->parser, on_text);
	node_free(c->root);
	c->root = c->cur = NULL;
	c->depth = c->nodes = c->overflow = 0;
}

/* Feeds plaintext to expat; handles the stream restarts after STARTTLS and SASL success. */
static void feed(struct xl_conn *c, const char *data, size_t len)
{
	if (c->failed || uv_is_closing((uv_handle_t *)&c->tcp)) return;
	enum XML_Status st = XML_Parse(c->parser, data, (int)len, 0);
	if (c->restart) {
		c->restart = 0;
		parser_setup(c);
		return;
	}
	if (st != XML_STATUS_OK && !c->failed && !c->closing) {
		snprintf(c->why, sizeof c->why, "xml: %s", XML_ErrorString(XML_GetErrorCode(c->parser)));
		fail(c, c->why);
	}
}

void xl_conn_feed_message(struct xl_conn *c, const char *xml, size_t len)
{
	if (c->failed || uv_is_closing((uv_handle_t *)&c->tcp)) return;
	parser_setup(c);
	c->depth = 1; /* no stream root: the message's element is the stanza */
	enum XML_Status st = XML_Parse(c->parser, xml, (int)len, 1);
	if (c->restart) { /* after SASL success: the next message gets a fresh parser anyway */
		c->restart = 0;
		return;
	}
	if (st != XML_STATUS_OK && !c->failed && !c->closing) {
		snprintf(c->why, sizeof c->why, "xml: %s", XML_ErrorString(XML_GetErrorCode(c->parser)));
		fail(c, c->why);
	}
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	*b = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_tls_input(struct xl_conn *c, const char *data, size_t len)
{
	if (BIO_write(c->rbio, data, (int)len) != (int)len) {
		fail(c, "tls bio");
		return;
	}
	if (!c->tls_up) {
		int r = SSL_do_handshake(c->ssl);
		if (r == 1) {
			c->tls_up = 1;
			if (!xl_tls_info[0])
				snprintf(xl_tls_info, sizeof xl_tls_info, "%s/%s", SSL_get_version(c->ssl),
				         SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
			c->state = XL_S_STREAM;
			tls_flush(c);
			xl_conn_send_open(c);
		} else {
			int e = SSL_get_error(c->ssl, r);
			tls_flush(c);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				fail(c, "tls handshake");
				return;
			}
			return;
		}
	}
	char plain[16384];
	for (;;) {
		if (c->failed || uv_is_closing((uv_handle_t *)&c->tcp)) return;
		int n = SSL_read(c->ssl, plain, sizeof plain);
		if (n > 0) {
			feed(c, plain, (size_t)n);
			continue;
		}
		int e = SSL_get_error(c->ssl, n);
		tls_flush(c);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
		if (e == SSL_ERROR_ZERO_RETURN) {
			if (!c->closing) fail(c, "tls closed by server");
			return;
		}
		fail(c, "tls read");
		return;
	}
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct xl_conn *c = s->data;
	if (n < 0) {
		if (c->closing)
			xl_conn_abort(c);
		else
			fail(c, n == UV_EOF ? "connection closed by server" : "read error");
		return;
	}
	if (n == 0) return;
	if (c->ws)
		xl_ws_input(c, b->base, (size_t)n);
	else if (c->ssl)
		on_tls_input(c, b->base, (size_t)n);
	else
		feed(c, b->base, (size_t)n);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct xl_conn *c = req->data;
	if (status < 0) {
		snprintf(c->why, sizeof c->why, "connect: %s", uv_strerror(status));
		fail(c, c->why);
		return;
	}
	if (c->closing) return;
	c->state = XL_S_STREAM;
	int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (r < 0) {
		fail(c, "read start");
		return;
	}
	if (!c->opts->ws)
		xl_conn_send_open(c);
	else if (xl_ws_start(c) < 0)
		fail(c, "ws: upgrade request");
}

void xl_conn_start(uv_loop_t *loop, struct xl_conn *c)
{
	struct sockaddr_in addr, src;
	static unsigned next_source;
	snprintf(c->user, sizeof c->user, "bench%d", c->index);
	c->state = XL_S_CONNECTING;
	c->t_start = uv_hrtime();
	uv_tcp_init(loop, &c->tcp);
	c->tcp.data = c;
	c->connect_req.data = c;
	parser_setup(c);
	uv_tcp_nodelay(&c->tcp, 1);
	int r = uv_ip4_addr(c->opts->host, c->opts->port, &addr);
	if (r == 0 && c->opts->sources > 1) {
		char ip[32];
		snprintf(ip, sizeof ip, "127.0.0.%u", 1 + next_source++ % (unsigned)c->opts->sources);
		uv_ip4_addr(ip, 0, &src);
		r = uv_tcp_bind(&c->tcp, (struct sockaddr *)&src, 0);
	}
	if (r == 0) r = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&addr, on_connect);
	if (r < 0) {
		snprintf(c->why, sizeof c->why, "connect: %s", uv_strerror(r));
		fail(c, c->why);
	}
}
