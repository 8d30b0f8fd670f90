/* tls.h: TLS server contexts (OpenSSL 3): loading certificate and key, TLS 1.2 minimum, reload on
 * SIGHUP by building a new context, and generation of a self-signed certificate on first start. The
 * per-connection TLS state machine lives in net.c. */
#ifndef PL_CORE_TLS_H
#define PL_CORE_TLS_H
#include <stddef.h>

typedef struct pl_tls_ctx pl_tls_ctx;

/* Loads cert (PEM chain) and key. On error returns PL_ETLS and writes a message into err. */
int pl_tls_ctx_new(const char *cert_path, const char *key_path, pl_tls_ctx **out, char *err,
	size_t errlen);
/* Reference counting: connections in a handshake keep the context they started with. */
pl_tls_ctx *pl_tls_ctx_ref(pl_tls_ctx *ctx);
void pl_tls_ctx_unref(pl_tls_ctx *ctx);
/* The underlying SSL_CTX* (as void* so callers need not include OpenSSL). */
void *pl_tls_ctx_ssl_ctx(pl_tls_ctx *ctx);

/* Writes a new self-signed certificate (EC P-256, SHA-256, valid 10 years) for the given host names
 * (subjectAltName DNS entries; the first is the CN) when cert_path or key_path does not exist. The key
 * file is created with mode 0600. Returns 0 (also when both files exist) or PL_ETLS with err. */
int pl_tls_ensure_self_signed(const char *cert_path, const char *key_path, const char *const *hosts,
	size_t nhosts, char *err, size_t errlen);

#endif
