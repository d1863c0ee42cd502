/*
 * The command table: rows from commands.def, a case-insensitive name index,
 * parsed key specs and key extraction. See cmd.h.
 *
 * Key spec source strings, as the generator writes them, are
 * "flags|bs_type|bs_args|fk_type|fk_args" joined by ';', for example
 * "RW insert|index|index=1|range|lastkey=0 keystep=1 limit=0". They are
 * parsed once at start-up; a malformed one is a build bug and aborts.
 */
#include "cmd.h"
#include "../base/base.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const cmd_flag_names[CF_BIT__COUNT] = {
#define X(sym, name) name,
    CMD_FLAG_LIST(X)
#undef X
};
const char *const cmd_acl_names[ACL_BIT__COUNT] = {
#define X(sym, name) name,
    ACL_CAT_LIST(X)
#undef X
};
const char *const cmd_ks_flag_names[KS_BIT__COUNT] = {
#define X(sym, name) name,
    KS_FLAG_LIST(X)
#undef X
};

static cmd_def table[CMDID__COUNT] = {
#define ROW(id_, parent_, name_, arity_, flags_, acl_, first_, last_, step_, ks_, tips_, group_,   \
            since_, cplx_, summary_)                                                               \
    [CMDID_##id_] = {.id = CMDID_##id_,                                                            \
                     .name = name_,                                                                \
                     .fullname = parent_ name_,                                                    \
                     .arity = arity_,                                                              \
                     .flags = flags_,                                                              \
                     .acl = acl_,                                                                  \
                     .first = first_,                                                              \
                     .last = last_,                                                                \
                     .step = step_,                                                                \
                     .keyspecs_src = ks_,                                                          \
                     .tips = tips_,                                                                \
                     .group = group_,                                                              \
                     .since = since_,                                                              \
                     .complexity = cplx_,                                                          \
                     .summary = summary_},
#define CMD(id, ...)         ROW(id, "", __VA_ARGS__)
#define CONTAINER(id, ...)   ROW(id, "", __VA_ARGS__)
#define SUB(parent, id, ...) ROW(id, #parent "|", __VA_ARGS__)
#include "commands.def"
#undef CMD
#undef CONTAINER
#undef SUB
#undef ROW
};

static const int parent_of[CMDID__COUNT] = {
#define CMD(id, ...)         [CMDID_##id] = -1,
#define CONTAINER(id, ...)   [CMDID_##id] = -1,
#define SUB(parent, id, ...) [CMDID_##id] = CMDID_##parent,
#include "commands.def"
#undef CMD
#undef CONTAINER
#undef SUB
};

static cmd_def *tops[CMDID__COUNT + 1];
static int ntops;
#define INDEX_SIZE 1024 /* power of two, > 2x the number of top-level commands */
static cmd_def *index_tab[INDEX_SIZE];
static bool initialized;

static uint32_t name_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint32_t)tolower((unsigned char)s[i])) * 16777619u;
    return h;
}

static void parse_args(const char *s, size_t n, cmd_keyspec *ks, bool bs) {
    /* "k=v k=v" */
    char buf[128];
    sg_assert(n < sizeof(buf));
    memcpy(buf, s, n);
    buf[n] = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        sg_assert(eq);
        *eq = 0;
        const char *v = eq + 1;
        if (bs) {
            if (!strcmp(tok, "index"))
                ks->bs_index = atoi(v);
            else if (!strcmp(tok, "keyword"))
                snprintf(ks->bs_keyword, sizeof(ks->bs_keyword), "%s", v);
            else if (!strcmp(tok, "startfrom"))
                ks->bs_startfrom = atoi(v);
        } else {
            if (!strcmp(tok, "lastkey"))
                ks->fk_lastkey = atoi(v);
            else if (!strcmp(tok, "keystep") && ks->fk_type == KS_FK_RANGE)
                ks->fk_keystep = atoi(v);
            else if (!strcmp(tok, "keystep"))
                ks->fk_keystep2 = atoi(v);
            else if (!strcmp(tok, "limit"))
                ks->fk_limit = atoi(v);
            else if (!strcmp(tok, "keynumidx"))
                ks->fk_keynumidx = atoi(v);
            else if (!strcmp(tok, "firstkey"))
                ks->fk_firstkey = atoi(v);
        }
    }
}

static void parse_keyspecs(cmd_def *c) {
    const char *s = c->keyspecs_src;
    if (!s || !*s) return;
    int n = 1;
    for (const char *p = s; *p; p++) n += *p == ';';
    c->keyspecs = sg_calloc(sizeof(cmd_keyspec) * (size_t)n);
    c->nkeyspecs = n;
    for (int i = 0; i < n; i++) {
        const char *end = strchr(s, ';');
        if (!end) end = s + strlen(s);
        const char *f[6];
        size_t fl[6] = {0};
        const char *p = s;
        int nf = 0;
        for (int j = 0; j < 6 && p <= end; j++) { /* the 6th field (notes) is optional */
            const char *bar = memchr(p, '|', (size_t)(end - p));
            if (!bar || j == 5) bar = end;
            f[j] = p;
            fl[j] = (size_t)(bar - p);
            nf++;
            p = bar + 1;
        }
        sg_assert(nf >= 5);
        cmd_keyspec *ks = &c->keyspecs[i];
        /* flags */
        char fb[128];
        sg_assert(fl[0] < sizeof(fb));
        memcpy(fb, f[0], fl[0]);
        fb[fl[0]] = 0;
        char *save = NULL;
        for (char *t = strtok_r(fb, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            for (int b = 0; b < KS_BIT__COUNT; b++)
                if (!strcasecmp(t, cmd_ks_flag_names[b])) ks->flags |= 1u << b;
        }
        ks->bs_type = !strncmp(f[1], "index", fl[1])     ? KS_BS_INDEX
                      : !strncmp(f[1], "keyword", fl[1]) ? KS_BS_KEYWORD
                                                         : KS_BS_UNKNOWN;
        parse_args(f[2], fl[2], ks, true);
        ks->fk_type = !strncmp(f[3], "range", fl[3])    ? KS_FK_RANGE
                      : !strncmp(f[3], "keynum", fl[3]) ? KS_FK_KEYNUM
                                                        : KS_FK_UNKNOWN;
        parse_args(f[4], fl[4], ks, false);
        if (nf == 6 && fl[5]) {
            ks->notes = sg_malloc(fl[5] + 1);
            memcpy(ks->notes, f[5], fl[5]);
            ks->notes[fl[5]] = '\0';
        }
        s = *end ? end + 1 : end;
    }
}

void cmd_table_init(void) {
    if (initialized) return;
    initialized = true;
    for (int i = 0; i < CMDID__COUNT; i++) {
        cmd_def *c = &table[i];
        parse_keyspecs(c);
        for (int k = 0; k < c->nkeyspecs; k++)
            if (c->keyspecs[k].bs_type != KS_BS_INDEX || c->keyspecs[k].fk_type != KS_FK_RANGE)
                c->flags |= CF_MOVABLEKEYS;
        if (parent_of[i] >= 0) {
            cmd_def *p = &table[parent_of[i]];
            c->parent = p;
            p->subs = sg_realloc(p->subs, sizeof(cmd_def *) * (size_t)(p->nsubs + 2));
            p->subs[p->nsubs++] = c;
            p->subs[p->nsubs] = NULL;
        } else {
            tops[ntops++] = c;
            uint32_t h = name_hash(c->name, strlen(c->name)) & (INDEX_SIZE - 1);
            while (index_tab[h]) h = (h + 1) & (INDEX_SIZE - 1);
            index_tab[h] = c;
        }
    }
    sg_assert(ntops * 2 < INDEX_SIZE);
}

cmd_def *cmd_by_id(int id) {
    return id >= 0 && id < CMDID__COUNT ? &table[id] : NULL;
}

cmd_def *cmd_lookup(const char *name, size_t len) {
    if (len == 0 || len > 64) return NULL;
    uint32_t h = name_hash(name, len) & (INDEX_SIZE - 1);
    while (index_tab[h]) {
        cmd_def *c = index_tab[h];
        if (strlen(c->name) == len && !strncasecmp(c->name, name, len)) return c;
        h = (h + 1) & (INDEX_SIZE - 1);
    }
    return NULL;
}

cmd_def *cmd_lookup_sub(const cmd_def *parent, const char *name, size_t len) {
    for (int i = 0; i < parent->nsubs; i++) {
        cmd_def *c = parent->subs[i];
        if (strlen(c->name) == len && !strncasecmp(c->name, name, len)) return c;
    }
    return NULL;
}

cmd_def *cmd_top(int i) {
    return i < ntops ? tops[i] : NULL;
}

int cmd_top_count(void) {
    return ntops;
}

int cmd_get_keys(const cmd_def *c, int argc, const char *const *argv, const size_t *lens, int *pos,
                 uint32_t *flags, int max) {
    int n = 0;
    for (int k = 0; k < c->nkeyspecs; k++) {
        const cmd_keyspec *ks = &c->keyspecs[k];
        if (ks->flags & (1u << KS_BIT_NOT_KEY)) continue;
        int first = -1;
        if (ks->bs_type == KS_BS_INDEX) {
            first = ks->bs_index;
        } else if (ks->bs_type == KS_BS_KEYWORD) {
            size_t kwlen = strlen(ks->bs_keyword);
            int start = ks->bs_startfrom >= 0 ? ks->bs_startfrom : argc + ks->bs_startfrom;
            int dir = ks->bs_startfrom >= 0 ? 1 : -1;
            for (int i = start; i > 0 && i < argc; i += dir) {
                if (lens[i] == kwlen && !strncasecmp(argv[i], ks->bs_keyword, kwlen)) {
                    first = i + 1;
                    break;
                }
            }
            if (first < 0) continue;
        } else {
            continue;
        }
        if (first >= argc) continue;
        int last, step;
        if (ks->fk_type == KS_FK_RANGE) {
            step = ks->fk_keystep > 0 ? ks->fk_keystep : 1;
            if (ks->fk_lastkey >= 0) {
                last = first + ks->fk_lastkey;
            } else if (ks->fk_limit == 0) {
                last = argc + ks->fk_lastkey;
            } else { /* the keys are the first 1/limit of what follows */
                last = first + ((argc - first) / ks->fk_limit) + ks->fk_lastkey;
            }
        } else if (ks->fk_type == KS_FK_KEYNUM) {
            int numidx = first + ks->fk_keynumidx;
            if (numidx >= argc) return -1;
            long long nk;
            if (!sg_str2ll(argv[numidx], lens[numidx], &nk) || nk < 0 || nk > argc) return -1;
            step = ks->fk_keystep2 > 0 ? ks->fk_keystep2 : 1;
            first = first + ks->fk_firstkey;
            last = first + (int)nk * step - 1;
            if (nk == 0) continue;
        } else {
            continue;
        }
        if (last >= argc) {
            if (ks->fk_type == KS_FK_KEYNUM) return -1;
            last = argc - 1;
        }
        uint32_t kf = ks->flags;
        if ((kf & (1u << KS_BIT_VARIABLE_FLAGS)) && !strcmp(c->fullname, "set")) {
            /* SET's key is OW+update, or RW+access+update with GET (Redis's
             * setGetKeys). */
            bool get = false;
            for (int i = 3; i < argc; i++) get |= lens[i] == 3 && !strncasecmp(argv[i], "get", 3);
            kf = get ? (1u << KS_BIT_RW) | (1u << KS_BIT_ACCESS) | (1u << KS_BIT_UPDATE)
                     : (1u << KS_BIT_OW) | (1u << KS_BIT_UPDATE);
        }
        for (int i = first; i <= last; i += step) {
            if (n >= max) return n;
            pos[n] = i;
            if (flags) flags[n] = kf;
            n++;
        }
    }
    return n;
}
