/* Unit tests for src/cmd: the command table, lookups, arity, key specs. */
#include "../../src/base/base.h"
#include "../../src/cmd/cmd.h"
#include "test.h"

#include <string.h>
#include <strings.h>

static const cmd_def *look(const char *name) {
    cmd_table_init();
    return cmd_lookup(name, strlen(name));
}

/* Key positions for a command given as a space-separated line. */
static int keys_of(const cmd_def *c, const char *line, int *pos, uint32_t *flags, int max) {
    static char buf[512];
    static const char *argv[64];
    static size_t lens[64];
    snprintf(buf, sizeof(buf), "%s", line);
    int argc = 0;
    for (char *t = strtok(buf, " "); t && argc < 64; t = strtok(NULL, " ")) {
        argv[argc] = t;
        lens[argc] = strlen(t);
        argc++;
    }
    return cmd_get_keys(c, argc, argv, lens, pos, flags, max);
}

static const uint32_t F_RO = 1u << KS_BIT_RO, F_RW = 1u << KS_BIT_RW, F_OW = 1u << KS_BIT_OW,
                      F_RM = 1u << KS_BIT_RM, F_ACCESS = 1u << KS_BIT_ACCESS,
                      F_UPDATE = 1u << KS_BIT_UPDATE, F_DELETE = 1u << KS_BIT_DELETE;

TEST(table_init) {
    cmd_table_init();
    cmd_table_init(); /* idempotent */
    int n = cmd_top_count();
    CHECK(n > 50);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        cmd_def *c = cmd_top(i);
        if (!c) {
            bad++;
            continue;
        }
        if (c->parent) bad++;
        if (strcmp(c->name, c->fullname) != 0) bad++;
        if (cmd_lookup(c->name, strlen(c->name)) != c) bad++;
        if (cmd_by_id(c->id) != c) bad++;
        if (c->arity == 0) bad++;
        bool movable = false; /* movablekeys iff some spec is not index+range */
        for (int k = 0; k < c->nkeyspecs; k++)
            movable |=
                c->keyspecs[k].bs_type != KS_BS_INDEX || c->keyspecs[k].fk_type != KS_FK_RANGE;
        if (!!(c->flags & CF_MOVABLEKEYS) != movable) bad++;
        for (int s = 0; s < c->nsubs; s++) {
            cmd_def *sub = c->subs[s];
            char full[128];
            snprintf(full, sizeof(full), "%s|%s", c->name, sub->name);
            if (sub->parent != c || strcmp(sub->fullname, full) != 0) bad++;
            if (cmd_lookup_sub(c, sub->name, strlen(sub->name)) != sub) bad++;
            if (cmd_lookup(sub->fullname, strlen(sub->fullname)) != NULL) bad++;
        }
        if (c->subs && c->subs[c->nsubs] != NULL) bad++;
    }
    CHECK_EQ(bad, 0);
    CHECK(cmd_top(n) == NULL);
    CHECK(cmd_by_id(-1) == NULL);
    CHECK(cmd_by_id(CMDID__COUNT) == NULL);
    CHECK_EQ(cmd_by_id(CMDID_get)->id, CMDID_get);
    CHECK_STR_EQ(cmd_flag_names[CF_BIT_WRITE], "write");
    CHECK_STR_EQ(cmd_flag_names[CF_BIT_ALLOW_BUSY], "allow_busy");
    CHECK_STR_EQ(cmd_acl_names[ACL_BIT_KEYSPACE], "keyspace");
    CHECK_STR_EQ(cmd_ks_flag_names[KS_BIT_NOT_KEY], "not_key");
}

TEST(lookup_case_insensitive) {
    const cmd_def *get = look("get");
    REQUIRE(get != NULL);
    CHECK_STR_EQ(get->name, "get");
    CHECK_EQ(get->id, CMDID_get);
    CHECK(look("GET") == get);
    CHECK(look("GeT") == get);
    CHECK(look("gEt") == get);
    CHECK(look("SET") != NULL && look("SET") != get);
    CHECK(look("MSetNX") == cmd_by_id(CMDID_msetnx));
    CHECK(look("ge") == NULL);
    CHECK(look("gett") == NULL);
    CHECK(look("nosuchcommand") == NULL);
    CHECK(cmd_lookup("", 0) == NULL);
    CHECK(cmd_lookup("get", 2) == NULL);   /* length is explicit */
    CHECK(cmd_lookup("getxyz", 3) == get); /* no NUL needed */
    char longname[200];
    memset(longname, 'a', sizeof(longname));
    CHECK(cmd_lookup(longname, sizeof(longname)) == NULL);
    /* Subcommands are not top-level names. */
    CHECK(look("list") == NULL);
    CHECK(look("client|list") == NULL);
}

TEST(lookup_subcommands) {
    const cmd_def *client = look("CLIENT");
    REQUIRE(client != NULL);
    CHECK(client->nsubs > 3);
    CHECK(client->subs != NULL);
    const cmd_def *list = cmd_lookup_sub(client, "list", 4);
    REQUIRE(list != NULL);
    CHECK_EQ(list->id, CMDID_client_list);
    CHECK_STR_EQ(list->name, "list");
    CHECK_STR_EQ(list->fullname, "client|list");
    CHECK(list->parent == client);
    CHECK(cmd_lookup_sub(client, "LIST", 4) == list);
    CHECK(cmd_lookup_sub(client, "LiSt", 4) == list);
    CHECK(cmd_lookup_sub(client, "lis", 3) == NULL);
    CHECK(cmd_lookup_sub(client, "lists", 5) == NULL);
    CHECK(cmd_lookup_sub(client, "nosuch", 6) == NULL);
    CHECK(cmd_lookup_sub(client, "", 0) == NULL);
    const cmd_def *object = look("object");
    REQUIRE(object != NULL);
    const cmd_def *enc = cmd_lookup_sub(object, "ENCODING", 8);
    REQUIRE(enc != NULL);
    CHECK_EQ(enc->id, CMDID_object_encoding);
    CHECK_STR_EQ(enc->fullname, "object|encoding");
    /* A command without subcommands. */
    CHECK(cmd_lookup_sub(look("get"), "list", 4) == NULL);
    CHECK_EQ(look("get")->nsubs, 0);
    CHECK(look("get")->subs == NULL);
}

TEST(arity) {
    const cmd_def *get = look("get"), *set = look("set"), *ping = look("ping");
    REQUIRE(get && set && ping);
    CHECK_EQ(get->arity, 2);
    CHECK(cmd_arity_ok(get, 2));
    CHECK(!cmd_arity_ok(get, 1));
    CHECK(!cmd_arity_ok(get, 3));
    CHECK_EQ(set->arity, -3);
    CHECK(!cmd_arity_ok(set, 2));
    CHECK(cmd_arity_ok(set, 3));
    CHECK(cmd_arity_ok(set, 8));
    CHECK(cmd_arity_ok(ping, 1));
    CHECK(cmd_arity_ok(ping, 2));
    CHECK(!cmd_arity_ok(ping, 0));
    const cmd_def *list = cmd_lookup_sub(look("client"), "list", 4);
    REQUIRE(list);
    CHECK_EQ(list->arity, -2);
    CHECK(cmd_arity_ok(list, 2));
    CHECK(cmd_arity_ok(list, 5));
    CHECK(!cmd_arity_ok(list, 1));
    const cmd_def *enc = cmd_lookup_sub(look("object"), "encoding", 8);
    REQUIRE(enc);
    CHECK(cmd_arity_ok(enc, 3));
    CHECK(!cmd_arity_ok(enc, 4));
}

TEST(flags_and_metadata) {
    const cmd_def *get = look("get"), *set = look("set"), *del = look("del");
    REQUIRE(get && set && del);
    CHECK(get->flags & CF_READONLY);
    CHECK(get->flags & CF_FAST);
    CHECK(!(get->flags & CF_WRITE));
    CHECK(set->flags & CF_WRITE);
    CHECK(set->flags & CF_DENYOOM);
    CHECK(get->acl & ACL_STRING);
    CHECK(del->acl & ACL_KEYSPACE);
    CHECK_STR_EQ(get->group, "string");
    CHECK_STR_EQ(get->since, "1.0.0");
    CHECK_EQ(get->first, 1);
    CHECK_EQ(get->last, 1);
    CHECK_EQ(get->step, 1);
    CHECK_EQ(del->last, -1);
    CHECK(look("auth")->flags & CF_NO_AUTH);
}

TEST(keys_get) {
    const cmd_def *get = look("get");
    REQUIRE(get);
    REQUIRE(get->nkeyspecs == 1);
    int pos[8];
    uint32_t fl[8];
    CHECK_EQ(keys_of(get, "GET mykey", pos, fl, 8), 1);
    CHECK_EQ(pos[0], 1);
    CHECK_EQ(fl[0], F_RO | F_ACCESS);
    CHECK_EQ(keys_of(get, "GET mykey", pos, NULL, 8), 1);
    CHECK_EQ(keys_of(get, "GET", pos, NULL, 8), 0); /* short argv: no key */
}

TEST(keys_mset) {
    const cmd_def *mset = look("mset");
    REQUIRE(mset);
    int pos[8];
    uint32_t fl[8];
    CHECK_EQ(keys_of(mset, "MSET k1 v1 k2 v2", pos, fl, 8), 2);
    CHECK_EQ(pos[0], 1);
    CHECK_EQ(pos[1], 3);
    CHECK_EQ(fl[0], F_OW | F_UPDATE);
    CHECK_EQ(keys_of(mset, "MSET k1 v1 k2 v2 k3 v3", pos, NULL, 8), 3);
    CHECK_EQ(pos[2], 5);
    CHECK_EQ(keys_of(mset, "MSET k1 v1", pos, NULL, 8), 1);
}

TEST(keys_del) {
    const cmd_def *del = look("del");
    REQUIRE(del);
    int pos[8];
    uint32_t fl[8];
    CHECK_EQ(keys_of(del, "DEL a b c", pos, fl, 8), 3);
    CHECK_EQ(pos[0], 1);
    CHECK_EQ(pos[1], 2);
    CHECK_EQ(pos[2], 3);
    CHECK_EQ(fl[2], F_RM | F_DELETE);
    /* max caps the output. */
    CHECK_EQ(keys_of(del, "DEL a b c", pos, NULL, 2), 2);
    CHECK_EQ(pos[1], 2);
    CHECK_EQ(keys_of(del, "DEL a", pos, NULL, 8), 1);
}

TEST(keys_copy) {
    const cmd_def *copy = look("copy");
    REQUIRE(copy);
    REQUIRE(copy->nkeyspecs == 2);
    int pos[8];
    uint32_t fl[8];
    CHECK_EQ(keys_of(copy, "COPY src dst", pos, fl, 8), 2);
    CHECK_EQ(pos[0], 1);
    CHECK_EQ(pos[1], 2);
    CHECK_EQ(fl[0], F_RO | F_ACCESS);
    CHECK_EQ(fl[1], F_OW | F_UPDATE);
    CHECK_EQ(keys_of(copy, "COPY src dst DB 3 REPLACE", pos, NULL, 8), 2);
    CHECK_EQ(pos[1], 2);
}

TEST(keys_object_encoding) {
    const cmd_def *enc = cmd_lookup_sub(look("object"), "encoding", 8);
    REQUIRE(enc);
    int pos[8];
    uint32_t fl[8];
    CHECK_EQ(keys_of(enc, "OBJECT ENCODING mykey", pos, fl, 8), 1);
    CHECK_EQ(pos[0], 2);
    CHECK_EQ(fl[0], F_RO);
    /* The container itself has no keys. */
    CHECK_EQ(keys_of(look("object"), "OBJECT ENCODING mykey", pos, NULL, 8), 0);
}

TEST(keys_rename_set_none) {
    int pos[8];
    uint32_t fl[8];
    CHECK_EQ(keys_of(look("rename"), "RENAME a b", pos, fl, 8), 2);
    CHECK_EQ(fl[0], F_RW | F_ACCESS | F_DELETE);
    CHECK_EQ(keys_of(look("set"), "SET k v EX 10", pos, fl, 8), 1);
    CHECK_EQ(pos[0], 1);
    /* variable_flags resolved as Redis's setGetKeys: OW+update, or
     * RW+access+update with GET */
    CHECK_EQ(fl[0], (1u << KS_BIT_OW) | (1u << KS_BIT_UPDATE));
    CHECK_EQ(keys_of(look("set"), "SET k v GET", pos, fl, 8), 1);
    CHECK_EQ(fl[0], F_RW | F_ACCESS | (1u << KS_BIT_UPDATE));
    CHECK_EQ(keys_of(look("ping"), "PING", pos, NULL, 8), 0);
    CHECK_EQ(keys_of(look("scan"), "SCAN 0 MATCH k*", pos, NULL, 8), 0);
}

/* Every row: the key specs give the same keys as the legacy
 * (first, last, step) triple, for several argument counts. */
TEST(keyspecs_match_legacy_triple) {
    cmd_table_init();
    int bad = 0;
    for (int id = 0; id < CMDID__COUNT; id++) {
        const cmd_def *c = cmd_by_id(id);
        if (c->subs) continue;                   /* containers */
        if (c->flags & CF_MOVABLEKEYS) continue; /* no triple to compare with */
        bool not_key = false;                    /* shard channels: in the triple, not keys */
        for (int k = 0; k < c->nkeyspecs; k++)
            not_key |= (c->keyspecs[k].flags & (1u << KS_BIT_NOT_KEY)) != 0;
        if (not_key) continue;
        int amin = c->arity > 0 ? c->arity : -c->arity;
        int amax = c->arity > 0 ? c->arity : amin + 5;
        for (int argc = amin; argc <= amax; argc++) {
            const char *argv[16];
            size_t lens[16];
            for (int i = 0; i < argc; i++) {
                argv[i] = "1"; /* also a valid number, for keynum specs */
                lens[i] = 1;
            }
            int pos[16], want[16], nwant = 0;
            int n = cmd_get_keys(c, argc, argv, lens, pos, NULL, 16);
            if (c->first > 0) {
                int last = c->last >= 0 ? c->last : argc + c->last;
                for (int i = c->first; i <= last && i < argc; i += c->step) want[nwant++] = i;
            }
            bool same = n == nwant;
            for (int i = 0; same && i < n; i++) same = pos[i] == want[i];
            if (!same) {
                fprintf(stderr, "  %s with argc %d: %d keys from specs, %d from the triple\n",
                        c->fullname, argc, n, nwant);
                bad++;
            }
        }
    }
    CHECK_EQ(bad, 0);
}

/* Key spec shapes no current row uses, checked against Redis 7's
 * getKeysUsingKeySpecs() on hand-built rows. */
static cmd_keyspec spec_keyword(const char *kw, int startfrom, int lastkey, int keystep,
                                int limit) {
    cmd_keyspec s;
    memset(&s, 0, sizeof(s));
    s.flags = F_RO | F_ACCESS;
    s.bs_type = KS_BS_KEYWORD;
    snprintf(s.bs_keyword, sizeof(s.bs_keyword), "%s", kw);
    s.bs_startfrom = startfrom;
    s.fk_type = KS_FK_RANGE;
    s.fk_lastkey = lastkey;
    s.fk_keystep = keystep;
    s.fk_limit = limit;
    return s;
}

TEST(keys_keyword_spec) {
    /* MIGRATE-like: keyword KEYS searched backwards from the end. */
    cmd_keyspec s = spec_keyword("KEYS", -2, -1, 1, 0);
    cmd_def c;
    memset(&c, 0, sizeof(c));
    c.keyspecs = &s;
    c.nkeyspecs = 1;
    int pos[16];
    CHECK_EQ(keys_of(&c, "MIGRATE h p \"\" 0 5000 KEYS a b c", pos, NULL, 16), 3);
    CHECK_EQ(pos[0], 7);
    CHECK_EQ(pos[2], 9);
    /* Keyword absent: no keys. */
    CHECK_EQ(keys_of(&c, "MIGRATE h p k 0 5000", pos, NULL, 16), 0);
    /* Case-insensitive keyword. */
    CHECK_EQ(keys_of(&c, "MIGRATE h p \"\" 0 5000 keys a", pos, NULL, 16), 1);
}

/* Regression (fixed; latent, no current row has limit > 1): a RANGE spec with
 * lastkey -1 and a limit, as XREAD/XREADGROUP have ("STREAMS" keyword,
 * lastkey -1, keystep 1, limit 2: the keys are the first half of what
 * follows), ignores the limit: cmd_get_keys tests `lastkey == -1 ||
 * limit <= 1` where Redis uses the limit whenever it is set, so the stream
 * IDs are returned as keys. */
TEST(keys_range_limit_like_xread) {
    cmd_keyspec s = spec_keyword("STREAMS", 1, -1, 1, 2);
    cmd_def c;
    memset(&c, 0, sizeof(c));
    c.keyspecs = &s;
    c.nkeyspecs = 1;
    int pos[16];
    int n = keys_of(&c, "XREAD COUNT 2 STREAMS s1 s2 0 0", pos, NULL, 16);
    if (n != 2) fprintf(stderr, "  BUG: limit ignored, %d keys instead of 2\n", n);
    CHECK_EQ(n, 2);
    CHECK_EQ(pos[0], 4);
    if (n >= 2) CHECK_EQ(pos[1], 5);
}

TEST(keys_keynum_spec) {
    /* ZUNIONSTORE-like: destination at 1, then numkeys at 2 and the keys. */
    cmd_keyspec s[2];
    memset(s, 0, sizeof(s));
    s[0].flags = F_OW | F_UPDATE;
    s[0].bs_type = KS_BS_INDEX;
    s[0].bs_index = 1;
    s[0].fk_type = KS_FK_RANGE;
    s[1].flags = F_RO | F_ACCESS;
    s[1].bs_type = KS_BS_INDEX;
    s[1].bs_index = 2;
    s[1].fk_type = KS_FK_KEYNUM;
    s[1].fk_keynumidx = 0;
    s[1].fk_firstkey = 1;
    s[1].fk_keystep2 = 1;
    cmd_def c;
    memset(&c, 0, sizeof(c));
    c.keyspecs = s;
    c.nkeyspecs = 2;
    int pos[16];
    uint32_t fl[16];
    CHECK_EQ(keys_of(&c, "ZUNIONSTORE dst 2 a b WEIGHTS 1 2", pos, fl, 16), 3);
    CHECK_EQ(pos[0], 1);
    CHECK_EQ(pos[1], 3);
    CHECK_EQ(pos[2], 4);
    CHECK_EQ(fl[0], F_OW | F_UPDATE);
    CHECK_EQ(fl[1], F_RO | F_ACCESS);
    /* numkeys 0: only the destination. */
    CHECK_EQ(keys_of(&c, "ZUNIONSTORE dst 0", pos, NULL, 16), 1);
    /* Bad numkeys: not a number, negative, more than there are. */
    CHECK_EQ(keys_of(&c, "ZUNIONSTORE dst x a", pos, NULL, 16), -1);
    CHECK_EQ(keys_of(&c, "ZUNIONSTORE dst -1 a", pos, NULL, 16), -1);
    CHECK_EQ(keys_of(&c, "ZUNIONSTORE dst 5 a b", pos, NULL, 16), -1);
}
