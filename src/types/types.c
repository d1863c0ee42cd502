/*
 * Registration of the data types' keyspace hooks (free, copy, size,
 * digest): each type's file defines <type>_type_register(), called once at
 * start-up before any key exists.
 */
#include "../server/server.h"

void hash_type_register(void);
void list_type_register(void);
void set_type_register(void);
void zset_type_register(void);

void types_register(void) {
    hash_type_register();
    list_type_register();
    set_type_register();
    zset_type_register();
}
