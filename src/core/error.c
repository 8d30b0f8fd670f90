/* error.c: names of the core error codes (see error.h). */
#include "core/error.h"

const char *pl_strerror(int err)
{
	switch (err) {
	case PL_OK: return "ok";
	case PL_EINVAL: return "invalid argument";
	case PL_EPARSE: return "parse error";
	case PL_ELIMIT: return "limit exceeded";
	case PL_EIO: return "I/O error";
	case PL_ENOTFOUND: return "not found";
	case PL_EEXIST: return "already exists";
	case PL_EAUTH: return "authentication failed";
	case PL_ESTATE: return "invalid state";
	case PL_ECLOSED: return "closed";
	case PL_ESTORE: return "storage error";
	case PL_ETLS: return "TLS error";
	default: return "module error";
	}
}
