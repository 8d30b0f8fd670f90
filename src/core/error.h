/* error.h: parley's error codes. Every function that can fail returns 0 or one of these negative values
 * (STYLE.md rule 3); pl_strerror() names them for logs. Modules may define their own negative codes below
 * PL_E_MODULE_BASE with a module prefix (e.g. PL_XML_E_*, PL_SASL_E_*). */
#ifndef PL_CORE_ERROR_H
#define PL_CORE_ERROR_H

enum {
	PL_OK = 0,
	PL_EINVAL = -1,    /* bad argument or value */
	PL_EPARSE = -2,    /* input does not parse */
	PL_ELIMIT = -3,    /* a configured limit was hit */
	PL_EIO = -4,       /* I/O or system call failed */
	PL_ENOTFOUND = -5, /* no such object */
	PL_EEXIST = -6,    /* object already exists */
	PL_EAUTH = -7,     /* authentication failed */
	PL_ESTATE = -8,    /* call not valid in the current state */
	PL_ECLOSED = -9,   /* the peer or object is closed */
	PL_ESTORE = -10,   /* storage backend error */
	PL_ETLS = -11,     /* TLS error */
	PL_E_MODULE_BASE = -100,
};

/* Returns a static, human-readable name for a core error code. */
const char *pl_strerror(int err);

#endif
