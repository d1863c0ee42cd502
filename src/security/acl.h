/*
 * security/acl: users, passwords and per-user permissions (Redis 7.0 ACLs).
 *
 * The core calls the hooks declared in server.h (acl_check_or_reply,
 * acl_client_init); the functions below are the few extra entry points the
 * connection commands, CLIENT LIST/KILL and startup use.
 */
#ifndef SURGE_ACL_H
#define SURGE_ACL_H

#include "../server/server.h"

#include <stdbool.h>
#include <stddef.h>

/* Creates the default user (idempotent). */
void acl_init(void);
/* Loads `aclfile` when configured. Returns 0, or -1 (logged): refuse to start. */
int acl_load_at_startup(void);
/* Re-applies `requirepass` to the default user when it changed (called from
 * config_apply_settings). */
void acl_sync_requirepass(void);
/* True when the default user needs no password (and is enabled): new
 * connections start authenticated. */
bool acl_default_nopass(void);
/* AUTH / HELLO AUTH: on success binds c to the user, marks it
 * authenticated and returns true; otherwise logs the failure in ACL LOG,
 * replies WRONGPASS and returns false. */
bool acl_auth_or_reply(client *c, const char *user, size_t ulen, const char *pass, size_t plen);
/* The name of the user c is bound to ("default" for a fresh client). */
const char *acl_client_username(const client *c);
bool acl_user_exists(const char *name);

#endif
