/*
 * Serving clients while the dataset loads (start-up), as Redis does.
 *
 * main.c opens the listeners and creates the event loop before it calls the
 * loaders (the append-only log, or the snapshot). A loader brackets its work
 * with server_loading_begin(s, total_bytes) and server_loading_end(s), and
 * calls server_loading_progress(s, loaded_bytes) once per record or key,
 * loaded_bytes counting from the start of the whole load (all files).
 *
 *   begin ──► progress ─► progress ─► ... ─► end
 *                 │ every CHECK_EVERY calls, each call while key-load-delay
 *                 │ is set, and when loading-process-events-interval-bytes
 *                 │ more bytes were loaded: read the clock
 *                 ▼
 *            a pass, if PASS_EVERY_US passed since the last one (or the
 *            bytes interval was crossed), up to PASS_ROUNDS rounds of:
 *              ev_poll_once   accept, read, dispatch (file events only)
 *              flush replies, free closed clients
 *            then: a signal or SHUTDOWN seen → exit without saving
 *
 * What runs in a pass. Only file events: no tick (server_cron: no active
 * expiry, no eviction, no log rewrite or fsync, no client timeouts) and no
 * before-sleep hook (no blocked-client serving, no tracking broadcast, no
 * log writes). The dispatcher answers every command whose row lacks the
 * `loading` flag with Redis's "-LOADING Redis is loading the dataset in
 * memory" (PING included, as in Redis 7: health checks wait for the load),
 * and skips eviction while loading. Commands flagged `loading` (INFO,
 * CONFIG, CLIENT, HELLO, AUTH, ACL, SELECT, SUBSCRIBE/PUBLISH, MULTI/EXEC,
 * SHUTDOWN, DEBUG ...) run normally; none of them changes the keyspace
 * except DEBUG POPULATE, which is a debugging tool (Redis lets it run too).
 *
 * SHUTDOWN (any form) and SIGTERM/SIGINT during loading: the server stops
 * at the next pass without saving anything (Redis forces NOSAVE here too: a
 * save would replace the data on disk with the half-loaded dataset), calls
 * server_shutdown(s, true), and exits with status 0. Replies owed to other
 * clients are flushed best effort; the log being read is left as it was.
 *
 * Cost. A progress call is a counter increment and a compare; the clock is
 * read every CHECK_EVERY calls, so loading speed is unchanged when nobody
 * is connected. With no client the pass is one epoll_wait(…, 0).
 *
 * Debug knobs (hidden configs, as in Redis; CONFIG GET needs the exact
 * name): key-load-delay (microseconds slept per progress call; a negative
 * -N sleeps 1 µs on one call in N: Redis draws that at random, Surge takes
 * every N-th call, so tests are repeatable) and
 * loading-process-events-interval-bytes (a pass at least every this many
 * loaded bytes, default 2mb).
 *
 * Nesting. A loader called from inside a command handler (none today) still
 * reports loading:1, but gets no passes: ev_poll_once refuses to run inside
 * a handler, since the loop's event array is in use.
 */
#include "config.h"
#include "server.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CHECK_EVERY   64   /* progress calls between clock reads */
#define PASS_EVERY_US 2000 /* a pass at most this often (time-based) */
#define PASS_ROUNDS   4    /* non-blocking rounds per pass, while busy */

/* The hidden configs (rows in config.c). */
long long loading_key_load_delay;
long long loading_events_interval_bytes = 2 * 1024 * 1024;

static struct {
    bool active;
    time_t start_time;              /* wall clock, for INFO */
    uint64_t start_us;              /* monotonic, for the log line */
    uint64_t total_bytes;           /* what the loader said it will read */
    uint64_t loaded_bytes;          /* last progress figure */
    uint64_t pass_bytes;            /* loaded_bytes at the last pass */
    uint64_t last_pass_us;          /* monotonic time of the last pass */
    unsigned calls;                 /* progress calls since the last clock read */
    unsigned long long delay_calls; /* for negative key-load-delay */
} L;

bool server_is_loading(void) {
    return L.active;
}

void server_loading_begin(server *s, uint64_t total_bytes) {
    if (!L.active) {
        L.start_time = time(NULL);
        L.start_us = sg_monotonic_us();
    }
    L.active = true;
    L.total_bytes = total_bytes;
    L.loaded_bytes = L.pass_bytes = 0;
    L.last_pass_us = sg_monotonic_us();
    L.calls = 0;
    s->cached_ms = sg_mstime();
    sg_log(SG_LOG_NOTICE, "Loading the dataset (%llu bytes); clients get -LOADING meanwhile",
           (unsigned long long)total_bytes);
}

/* Sleeps per key-load-delay: n > 0 µs each call, n < 0 1 µs every -n calls. */
static void key_load_delay(long long n) {
    if (n < 0) {
        if (++L.delay_calls % (unsigned long long)-n != 0) return; /* n >= INT_MIN */
        n = 1;
    }
    usleep((useconds_t)(n > 1000000000 ? 1000000000 : n));
}

static void exit_during_loading(server *s) {
    sg_log(SG_LOG_WARNING, "Shutdown requested while loading the dataset: exiting without "
                           "saving");
    server_shutdown(s, true);
    exit(0);
}

/* One pass: file events only, then what before-sleep would send and free. */
static void loading_pass(server *s) {
    s->cached_ms = sg_mstime();
    for (int round = 0; round < PASS_ROUNDS; round++) {
        int n = s->loop ? ev_poll_once(s->loop) : -1;
        if (n < 0) return; /* no loop yet, or inside a handler */
        server_flush_pending_writes(s);
        server_free_closed_clients(s);
        if (server_got_signal || s->shutdown_asap) exit_during_loading(s);
        if (n == 0) break;
    }
}

void server_loading_progress(server *s, uint64_t loaded_bytes) {
    L.loaded_bytes = loaded_bytes;
    long long delay = loading_key_load_delay;
    if (SG_UNLIKELY(delay)) key_load_delay(delay);
    bool bytes_due = loaded_bytes - L.pass_bytes >= (uint64_t)loading_events_interval_bytes;
    if (++L.calls < CHECK_EVERY && !bytes_due && !delay) return;
    L.calls = 0;
    uint64_t now = sg_monotonic_us();
    if (!bytes_due && now - L.last_pass_us < PASS_EVERY_US) return;
    loading_pass(s);
    L.pass_bytes = loaded_bytes;
    L.last_pass_us = sg_monotonic_us();
}

void server_loading_end(server *s) {
    if (!L.active) return;
    /* A last pass: what arrived during the final stretch is answered now
     * (still -LOADING for data commands), and a pending SHUTDOWN wins. */
    loading_pass(s);
    L.active = false;
    s->cached_ms = sg_mstime();
    sg_log(SG_LOG_NOTICE, "Loading done: %llu bytes read in %.3f seconds",
           (unsigned long long)L.loaded_bytes, (double)(sg_monotonic_us() - L.start_us) / 1e6);
}

/* INFO persistence: Redis's loading_* fields, present only while loading
 * (declared in info.c). */
sstr *server_loading_info(sstr *o);
sstr *server_loading_info(sstr *o) {
    if (!L.active) return o;
    double perc = 0;
    uint64_t remaining = 1;
    if (L.total_bytes) {
        perc = (double)L.loaded_bytes * 100.0 / (double)L.total_bytes;
        remaining = L.total_bytes > L.loaded_bytes ? L.total_bytes - L.loaded_bytes : 0;
    }
    time_t elapsed = time(NULL) - L.start_time;
    long long eta = elapsed <= 0
                        ? 1 /* Redis's figure without enough data */
                        : (long long)((uint64_t)elapsed * remaining / (L.loaded_bytes + 1));
    return sstr_catfmt(o,
                       "loading_start_time:%lld\r\n"
                       "loading_total_bytes:%llu\r\n"
                       "loading_rdb_used_mem:0\r\n"
                       "loading_loaded_bytes:%llu\r\n"
                       "loading_loaded_perc:%.2f\r\n"
                       "loading_eta_seconds:%lld\r\n",
                       (long long)L.start_time, (unsigned long long)L.total_bytes,
                       (unsigned long long)L.loaded_bytes, perc, eta);
}
