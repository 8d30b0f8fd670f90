/* config.c: the owner's room configuration form (XEP-0045 §10.2, FORM_TYPE muc#roomconfig). The form is
 * declared as one table of fields (var, type, label, kind, where it lands in pl_muc_room_config); the
 * same table builds the form with the current values, validates a submission (every known field, a
 * bad value refuses the whole form with a text naming the field; unknown fields are ignored) and applies
 * it. A change is announced to the occupants with status 104, plus 172/173 when the room becomes
 * non-anonymous/semi-anonymous (§10.2.1). Persistence only keeps the flag for now. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "muc/dataform.h"
#include "muc/muc_internal.h"

#define MAX_TEXT 1024 /* bytes of a room name, description, language or secret */

enum kind { K_BOOL, K_TEXT, K_MAXUSERS, K_WHOIS, K_ALLOWPM, K_HISTORY };

typedef struct field_def {
	const char *var, *type, *label;
	enum kind kind;
	size_t off; /* int or char * in pl_muc_room_config; unused for K_HISTORY */
	const char *err;
} field_def;

#define OFF(m) offsetof(pl_muc_room_config, m)
#define F(name) "muc#roomconfig_" name
static const field_def fields[] = {
    {F("roomname"), "text-single", "Room name", K_TEXT, OFF(name), "invalid " F("roomname")},
    {F("roomdesc"), "text-single", "Description", K_TEXT, OFF(desc), "invalid " F("roomdesc")},
    {F("lang"), "text-single", "Language of discussion", K_TEXT, OFF(lang), "invalid " F("lang")},
    {F("persistentroom"), "boolean", "Make room persistent", K_BOOL, OFF(persistent),
     "invalid " F("persistentroom")},
    {F("publicroom"), "boolean", "Make room publicly searchable", K_BOOL, OFF(public_room),
     "invalid " F("publicroom")},
    {F("passwordprotectedroom"), "boolean", "Password required to enter", K_BOOL, OFF(password_protected),
     "invalid " F("passwordprotectedroom")},
    {F("roomsecret"), "text-private", "Password", K_TEXT, OFF(password), "invalid " F("roomsecret")},
    {F("membersonly"), "boolean", "Make room members-only", K_BOOL, OFF(members_only),
     "invalid " F("membersonly")},
    {F("moderatedroom"), "boolean", "Make room moderated", K_BOOL, OFF(moderated),
     "invalid " F("moderatedroom")},
    {F("maxusers"), "list-single", "Maximum number of occupants", K_MAXUSERS, OFF(max_occupants),
     "invalid " F("maxusers")},
    {F("whois"), "list-single", "Who may discover real JIDs", K_WHOIS, OFF(whois_anyone),
     "invalid " F("whois")},
    {"muc#maxhistoryfetch", "text-single", "Maximum number of history messages", K_HISTORY, 0,
     "invalid muc#maxhistoryfetch"},
    {F("changesubject"), "boolean", "Allow occupants to change the subject", K_BOOL, OFF(change_subject),
     "invalid " F("changesubject")},
    {F("allowpm"), "list-single", "Who may send private messages", K_ALLOWPM, OFF(allow_pm),
     "invalid " F("allowpm")},
    {F("allowinvites"), "boolean", "Allow occupants to invite others", K_BOOL, OFF(allow_invites),
     "invalid " F("allowinvites")},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *const pm_names[] = {"anyone", "participants", "moderators", "none"};
static const int maxusers_opts[] = {10, 20, 30, 50, 100, 200, 500, 1000, 10000};

#define INTP(c, d) ((int *)((char *)(c) + (d)->off))
#define STRP(c, d) ((char **)((char *)(c) + (d)->off))

static pl_xml_node *add_value(pl_xml_node *f, const char *v)
{
	return pl_xml_add_text_elem(f, "value", NULL, v);
}

static void add_option(pl_xml_node *f, const char *label, const char *value)
{
	pl_xml_node *o = pl_xml_add_elem(f, "option", NULL);
	pl_xml_set_attr(o, "label", label);
	pl_xml_add_text_elem(o, "value", NULL, value);
}

void pl_muc_config_form(const pl_muc_room *r, pl_xml_node *form)
{
	const pl_muc_room_config *c = &r->cfg;
	char num[24];
	for (size_t i = 0; i < NFIELDS; i++) {
		const field_def *d = &fields[i];
		pl_xml_node *f = pl_xml_add_elem(form, "field", NULL);
		pl_xml_set_attr(f, "var", d->var);
		pl_xml_set_attr(f, "type", d->type);
		pl_xml_set_attr(f, "label", d->label);
		switch (d->kind) {
		case K_BOOL:
			add_value(f, *INTP(c, d) ? "1" : "0");
			break;
		case K_TEXT:
			add_value(f, *STRP(c, d) ? *STRP(c, d) : "");
			break;
		case K_MAXUSERS:
			snprintf(num, sizeof(num), "%d", c->max_occupants);
			add_value(f, num);
			for (size_t k = 0; k < sizeof(maxusers_opts) / sizeof(maxusers_opts[0]); k++) {
				if (maxusers_opts[k] > r->srv->cfg->muc_max_occupants) break;
				snprintf(num, sizeof(num), "%d", maxusers_opts[k]);
				add_option(f, num, num);
			}
			break;
		case K_WHOIS:
			add_value(f, c->whois_anyone ? "anyone" : "moderators");
			add_option(f, "Moderators only", "moderators");
			add_option(f, "Anyone", "anyone");
			break;
		case K_ALLOWPM:
			add_value(f, pm_names[c->allow_pm]);
			for (int k = 0; k < 4; k++)
				add_option(f, pm_names[k], pm_names[k]);
			break;
		case K_HISTORY:
			snprintf(num, sizeof(num), "%zu", r->history.cap);
			add_value(f, num);
			break;
		}
	}
}

void pl_muc_config_clear(pl_muc_room_config *c)
{
	free(c->name);
	free(c->desc);
	free(c->lang);
	free(c->password);
	c->name = c->desc = c->lang = c->password = NULL;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	if (!s || !*s || strlen(s) > 12) return -1;
	long v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi) return -1;
	*out = v;
	return 0;
}

static int name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(s, names[i])) return i;
	return -1;
}

/* Validates one field's value into c (a copy of the room's configuration). */
static int apply_field(const pl_muc_room *r, const field_def *d, const pl_dataform_field *v,
                       pl_muc_room_config *c, long *history)
{
	const char *s = v->nvalues ? v->values[0] : NULL;
	if (v->nvalues > 1) return -1;
	long n;
	switch (d->kind) {
	case K_BOOL: {
		int b = pl_dataform_bool(s);
		if (b < 0) return -1;
		*INTP(c, d) = b;
		return 0;
	}
	case K_TEXT:
		if (s && strlen(s) > MAX_TEXT) return -1;
		free(*STRP(c, d));
		*STRP(c, d) = s && *s ? pl_strdup(s) : NULL;
		return 0;
	case K_MAXUSERS:
		if (s && !strcmp(s, "none"))
			n = r->srv->cfg->muc_max_occupants;
		else if (parse_int(s, 1, r->srv->cfg->muc_max_occupants, &n) != 0)
			return -1;
		*INTP(c, d) = (int)n;
		return 0;
	case K_WHOIS:
		if (!s || (strcmp(s, "anyone") && strcmp(s, "moderators"))) return -1;
		c->whois_anyone = !strcmp(s, "anyone");
		return 0;
	case K_ALLOWPM: {
		int k = name_index(s, pm_names, 4);
		if (k < 0) return -1;
		c->allow_pm = k;
		return 0;
	}
	case K_HISTORY:
		if (parse_int(s, 0, r->srv->cfg->muc_history_length, &n) != 0) return -1;
		*history = n;
		return 0;
	}
	return -1;
}

static char *dup_or_null(const char *s)
{
	return s ? pl_strdup(s) : NULL;
}

static void announce(pl_muc_room *r, const int *codes, int n)
{
	pl_xml_node *m = pl_xml_elem_new("message", "jabber:client");
	pl_xml_set_attr(m, "from", r->jid);
	pl_xml_set_attr(m, "type", "groupchat");
	pl_xml_node *x = pl_xml_add_elem(m, "x", PL_NS_MUC_USER);
	char num[8];
	for (int i = 0; i < n; i++) {
		snprintf(num, sizeof(num), "%d", codes[i]);
		pl_xml_set_attr(pl_xml_add_elem(x, "status", NULL), "code", num);
	}
	pl_bytes *b = pl_stanza_bytes(m);
	for (pl_muc_occupant *o = r->by_nick; o; o = o->hh.next) pl_muc_send_to_occupant(o, b);
	pl_bytes_unref(b);
	pl_xml_free(m);
}

int pl_muc_config_submit(pl_muc_room *r, const pl_xml_node *x, const char **err)
{
	pl_dataform f;
	*err = NULL;
	if (pl_dataform_parse(x, &f) != 0) {
		*err = "malformed data form";
		return PL_EINVAL;
	}
	if (f.form_type && strcmp(f.form_type, "http://jabber.org/protocol/muc#roomconfig") != 0) {
		pl_dataform_clear(&f);
		*err = "FORM_TYPE is not muc#roomconfig";
		return PL_EINVAL;
	}
	pl_muc_room_config c = r->cfg;
	c.name = dup_or_null(r->cfg.name);
	c.desc = dup_or_null(r->cfg.desc);
	c.lang = dup_or_null(r->cfg.lang);
	c.password = dup_or_null(r->cfg.password);
	long history = (long)r->history.cap;
	for (size_t i = 0; i < NFIELDS; i++) {
		const pl_dataform_field *v = pl_dataform_get(&f, fields[i].var);
		if (v && apply_field(r, &fields[i], v, &c, &history) != 0) {
			*err = fields[i].err;
			break;
		}
	}
	if (!*err && c.password_protected && !c.password)
		*err = "a password protected room needs " F("roomsecret");
	pl_dataform_clear(&f);
	if (*err) {
		pl_muc_config_clear(&c);
		return PL_EINVAL;
	}
	int old_whois = r->cfg.whois_anyone;
	const pl_muc_room_config *o = &r->cfg;
	int changed = c.persistent != o->persistent || c.public_room != o->public_room ||
	              c.whois_anyone != o->whois_anyone || c.moderated != o->moderated ||
	              c.members_only != o->members_only || c.change_subject != o->change_subject ||
	              c.max_occupants != o->max_occupants || c.password_protected != o->password_protected ||
	              c.allow_invites != o->allow_invites || c.allow_pm != o->allow_pm ||
	              (long)r->history.cap != history;
	const char *const *ns[] = {(const char *const *)&c.name, (const char *const *)&c.desc,
	                           (const char *const *)&c.lang, (const char *const *)&c.password};
	const char *os[] = {r->cfg.name, r->cfg.desc, r->cfg.lang, r->cfg.password};
	for (int i = 0; i < 4; i++) {
		const char *a = *ns[i], *b = os[i];
		if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) changed = 1;
	}
	pl_muc_config_clear(&r->cfg);
	r->cfg = c;
	if ((size_t)history != r->history.cap) pl_muc_history_init(&r->history, (size_t)history);
	if (old_whois != c.whois_anyone) pl_muc_room_refresh_presences(r);
	if (changed && !r->locked) {
		int codes[2] = {104};
		int n = 1;
		if (old_whois != c.whois_anyone) codes[n++] = c.whois_anyone ? 172 : 173;
		announce(r, codes, n);
	}
	PL_DEBUG(0, "room %s configured", r->jid);
	return 0;
}
