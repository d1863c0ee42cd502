/*
 * pack: a compact, contiguous list of byte strings, the packed encoding of
 * small collections (OBJECT ENCODING "listpack"), and the node format of
 * quicklists.
 *
 *   +-----------+-----------+--------------------------------------+
 *   | bytes u32 | count u32 | entry entry ...                      |
 *   +-----------+-----------+--------------------------------------+
 *   entry: varint(len) | len bytes | backlen (1 or 2 bytes)
 *
 * backlen is the size of varint(len)+len, stored so it can be read from its
 * last byte backwards (7 bits per byte, high bit = "more before"), which
 * makes the list walkable from either end. Positions are byte offsets into
 * the pack; PACK_END (0) is "no entry". Offsets stay valid until the pack
 * is modified; every modifying call returns the (possibly moved) pack.
 *
 * All operations are O(size of the pack): packs are kept small by the
 * encodings' size thresholds (entries and bytes), which is what makes them
 * both compact and fast (one cache-friendly block).
 *
 * Limits: an entry is at most 2^14 - 1 + ... bytes of header; entries up to
 * 1 GB are representable; the thresholds keep real ones far smaller.
 */
#ifndef SURGE_PACK_H
#define SURGE_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t pack;
#define PACK_END 0
#define PACK_HDR 8

pack *pack_new(void);
void pack_free(pack *p);
pack *pack_dup(const pack *p);
uint32_t pack_count(const pack *p);
size_t pack_bytes(const pack *p);

size_t pack_first(const pack *p);
size_t pack_last(const pack *p);
size_t pack_next(const pack *p, size_t off);
size_t pack_prev(const pack *p, size_t off);
/* The entry at index i (negative: from the end), or PACK_END. */
size_t pack_seek(const pack *p, long long i);
const char *pack_get(const pack *p, size_t off, size_t *len);
/* Finds an entry equal to s, starting at off and stepping over `skip`
 * entries after each comparison (1 to look at pairs' first members). */
size_t pack_find(const pack *p, size_t off, const char *s, size_t n, unsigned skip);

/* Inserts before the entry at off (PACK_END: append). *where, if not NULL,
 * receives the new entry's offset. */
pack *pack_insert(pack *p, size_t off, const char *s, size_t n, size_t *where);
pack *pack_append(pack *p, const char *s, size_t n);
pack *pack_prepend(pack *p, const char *s, size_t n);
pack *pack_replace(pack *p, size_t off, const char *s, size_t n);
/* Deletes count entries starting at off. *next, if not NULL, receives the
 * offset of the entry that followed them (or PACK_END). */
pack *pack_delete(pack *p, size_t off, size_t count, size_t *next);

/* Number helpers for values stored as text. */
bool pack_entry_ll(const pack *p, size_t off, long long *v);

#endif
