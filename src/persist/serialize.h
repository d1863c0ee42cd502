/*
 * Value serialization shared by DUMP/RESTORE and snapshots (persist/).
 *
 * A serialized value is self-describing and checked:
 *
 *   +------+---------------------------+---------+-----------+
 *   | type | type-specific body        | version | CRC64     |
 *   | 1 B  | (see serialize.c)         | 2 B LE  | 8 B LE    |
 *   +------+---------------------------+---------+-----------+
 *
 * (the framing is Redis's DUMP framing: payload, 2-byte version, CRC64 of
 * everything before it; the body is Surge's own, so Redis's and Surge's DUMP
 * payloads are not interchangeable — docs/differences.md). Deserialization
 * validates everything (checksum, version, lengths, counts, nesting, that
 * integers and scores parse, that sorted sets are ordered, ...) before
 * building anything: a bad payload is an error, never a crash.
 */
#ifndef SURGE_SERIALIZE_H
#define SURGE_SERIALIZE_H

#include "../keyspace/keyspace.h"

#define SURGE_DUMP_VERSION 1

/* The value of e (not its key or TTL), framed as above. Never NULL. */
sstr *persist_dump_value(const kentry *e);

/* Builds a new entry for key with the value in p[0..n) and the given expire
 * (absolute ms, -1 none). Returns 0 and *out (owned by the caller), or -1
 * with *err set to a static message (Redis's "DUMP payload version or
 * checksum are wrong" for framing errors, "Bad data format" otherwise). */
int persist_restore_value(const char *key, size_t klen, const char *p, size_t n, int64_t expire,
                          kentry **out, const char **err);

/* Streaming form for snapshots: the value's body (type byte and body, no
 * version or CRC) through a sink, and its length beforehand. */
typedef void persist_sink_fn(void *ctx, const void *p, size_t n);
uint64_t persist_body_len(const kentry *e);
void persist_write_body(const kentry *e, persist_sink_fn *put, void *ctx);
/* Builds an entry from a body (p, n) as persist_write_body wrote it,
 * validated as persist_restore_value validates ("Bad data format"). */
int persist_build_body(const char *key, size_t klen, const char *p, size_t n, int64_t expire,
                       kentry **out, const char **err);

/* The types' DUMP/RESTORE surface: each type file (types/t_*.c) exports
 * <type>_type_walk (walks the elements of a value object: a list element
 * or set member in a; a hash field in a and value in b; a sorted-set member
 * in a with its score) and <type>_type_build (a new value object from
 * elements, the encoding chosen as a sequence of writes would choose it, in
 * *enc; NULL on a duplicate member or field). */
typedef void persist_elem_fn(void *ctx, const char *a, size_t al, const char *b, size_t bl,
                             double score);
typedef struct persist_elem {
    const char *a, *b;
    size_t al, bl;
    double score;
} persist_elem;
void list_type_walk(const void *ptr, int enc, persist_elem_fn *fn, void *ctx);
void *list_type_build(const persist_elem *v, size_t n, int *enc);
void set_type_walk(const void *ptr, int enc, persist_elem_fn *fn, void *ctx);
void *set_type_build(const persist_elem *v, size_t n, int *enc);
void hash_type_walk(const void *ptr, int enc, persist_elem_fn *fn, void *ctx);
void *hash_type_build(const persist_elem *v, size_t n, int *enc);
void zset_type_walk(const void *ptr, int enc, persist_elem_fn *fn, void *ctx);
void *zset_type_build(const persist_elem *v, size_t n, int *enc);

#endif
