/* net.h: network connections on the libuv loop. It owns listening sockets, accepted TCP connections,
 * TLS on them (OpenSSL over memory BIOs: Direct TLS on accept or STARTTLS later), bounded output queues
 * of shared byte blobs, the per-connection read rate limit (token bucket that pauses reading), the
 * global and per-IP connection limits, and asynchronous close (a connection is never freed inside its
 * own callback: pl_conn_close marks it and the free happens on a later loop turn, after on_close).
 * It knows nothing of XMPP or HTTP: upper layers get plaintext bytes through pl_conn_handler. */
#ifndef PL_CORE_NET_H
#define PL_CORE_NET_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "core/buf.h"
#include "core/tls.h"

typedef struct pl_conn pl_conn;

typedef struct pl_conn_handler {
	/* Plaintext bytes arrived (decrypted when TLS is on). */
	void (*on_data)(pl_conn *c, const char *data, size_t len);
	/* A TLS handshake finished (Direct TLS right after accept, or after pl_conn_starttls). May be NULL. */
	void (*on_tls_ready)(pl_conn *c);
	/* The connection is closed (peer closed, error, or after pl_conn_close finished flushing). Called
	 * exactly once; the upper layer must drop its pointer to c: it is freed after this returns.
	 * `reason` is 0 for an orderly close or a negative error. */
	void (*on_close)(pl_conn *c, int reason);
} pl_conn_handler;

typedef struct pl_net_limits {
	int max_connections;     /* global, 0 = unlimited */
	int max_per_ip;          /* 0 = unlimited */
	size_t read_rate;        /* bytes per second per connection, 0 = unlimited */
	size_t read_burst;       /* bucket size in bytes (rate * burst seconds) */
	size_t max_output_queue; /* bytes queued for writing before pl_conn_write returns PL_ELIMIT */
} pl_net_limits;

/* Public part of a connection. Everything else is private to net.c. */
struct pl_conn {
	uint64_t id;        /* unique, for logs ([c<id>]) */
	void *ud;           /* upper layer's data */
	const pl_conn_handler *handler;
	char peer_ip[64];   /* textual address of the peer */
	int peer_port;
	int tls;            /* 1 once TLS is established */
	int direct_tls;     /* accepted on a Direct TLS listener */
	int local_port;     /* port of the listener that accepted it */
};

typedef struct pl_net pl_net;
typedef struct pl_listener pl_listener;

/* Called for each accepted connection that passed the limits. The callee sets c->handler and c->ud
 * before returning. */
typedef void (*pl_accept_cb)(void *ud, pl_conn *c);

/* Creates the connection manager for a loop (limits are copied; see pl_net_set_limits). */
pl_net *pl_net_new(uv_loop_t *loop, const pl_net_limits *limits);
void pl_net_set_limits(pl_net *n, const pl_net_limits *limits);
/* Frees the manager; all listeners must be closed and all connections gone. */
void pl_net_free(pl_net *n);
/* Number of open connections. */
int pl_net_count(const pl_net *n);

/* Listens on addr:port ("0.0.0.0", "::", "127.0.0.1"...). With tls != NULL every accepted connection
 * starts with a TLS handshake (Direct TLS, XEP-0368); the tls context is referenced, not copied, and may
 * be swapped with pl_listener_set_tls. Returns 0 or PL_EIO (address in use, ...). */
int pl_listen(pl_net *n, const char *addr, int port, pl_tls_ctx *tls, pl_accept_cb cb, void *ud,
	pl_listener **out);
void pl_listener_set_tls(pl_listener *l, pl_tls_ctx *tls);
/* Actual bound port (useful with port 0). */
int pl_listener_port(const pl_listener *l);
void pl_listener_close(pl_listener *l);

/* Queues bytes for writing (takes a reference on b). Returns 0, PL_ECLOSED when the connection is
 * closing, or PL_ELIMIT when the output queue is over its limit (the bytes are not queued; the caller
 * closes the stream with an error). */
int pl_conn_write(pl_conn *c, pl_bytes *b);
/* Copies and queues. Same results. */
int pl_conn_write_data(pl_conn *c, const void *data, size_t len);
/* Bytes queued and not yet written. */
size_t pl_conn_queued(const pl_conn *c);
/* Starts a server-side TLS handshake with ctx (STARTTLS); bytes already read and not yet delivered are
 * dropped. Writes queued before the call go out in plaintext first. Returns 0 or PL_ESTATE. */
int pl_conn_starttls(pl_conn *c, pl_tls_ctx *ctx);
/* Fills out with the 32-byte tls-exporter channel binding (RFC 9266). Returns 0, or PL_ESTATE when TLS
 * is not up or the protocol is not TLS 1.3 (tls-exporter is defined for TLS 1.3 only). */
int pl_conn_tls_exporter(pl_conn *c, unsigned char out[32]);
/* Negotiated TLS version string ("TLSv1.3") or NULL. */
const char *pl_conn_tls_version(const pl_conn *c);
/* Graceful close: stops reading, flushes queued output (bounded by a short timeout), then closes.
 * on_close follows on a later loop turn. Safe to call from any callback, several times. */
void pl_conn_close(pl_conn *c);
/* Immediate close: drops queued output. on_close follows on a later loop turn. */
void pl_conn_abort(pl_conn *c);
/* Stops / resumes reading (flow control by the upper layer). */
void pl_conn_pause(pl_conn *c);
void pl_conn_resume(pl_conn *c);

#endif
