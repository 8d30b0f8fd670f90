/* admin.h: the local admin socket. parleyd listens on a unix-domain socket (config [daemon]
 * admin_socket, mode 0600, so only the server's user and root can use it) on its libuv loop; parleyctl
 * connects, sends one command line and reads one JSON line back, then the server closes the connection.
 *
 * Commands: "status" -> the JSON text returned by the provider callback; "ping" -> {"ok":true};
 * anything else -> {"error":"unknown command"}. A command line is at most 1 KiB; a client that sends
 * nothing complete within 5 seconds is disconnected; at most 32 clients are served at once. */
#ifndef PL_CORE_ADMIN_H
#define PL_CORE_ADMIN_H
#include <stddef.h>
#include <uv.h>

typedef struct pl_admin pl_admin;

/* Returns a newly malloc'd JSON document (one line, no trailing newline needed) describing the server,
 * or NULL when unavailable (the client then gets {"error":"status unavailable"}). Runs on the loop. */
typedef char *(*pl_admin_status_fn)(void *ud);

/* Starts listening on path (copied). A stale socket file (nothing accepts on it) is removed first; an
 * existing socket with a live server behind it gives PL_EEXIST, a non-socket file at path PL_EEXIST, a
 * path too long for a unix socket PL_EINVAL, other failures PL_EIO. On success *out is the server. */
int pl_admin_start(uv_loop_t *loop, const char *path, pl_admin_status_fn fn, void *ud, pl_admin **out);
/* Stops listening, drops connected clients and removes the socket file. Handles are closed
 * asynchronously: memory is released by their close callbacks once the loop runs again. NULL is a
 * no-op. */
void pl_admin_stop(pl_admin *a);

/* Client side (blocking, for parleyctl and tests): connects to path, sends cmd plus a newline, and
 * waits up to timeout_ms for the reply line. On success returns 0 and *reply (caller frees; no trailing
 * newline). Returns PL_ECLOSED when no server is listening (no socket file, or connection refused),
 * PL_EIO on other failures (permission denied, timeout, ...), with a message in err. */
int pl_admin_request(const char *path, const char *cmd, int timeout_ms, char **reply, char *err,
                     size_t errlen);

#endif
