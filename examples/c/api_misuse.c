/*
 * api_misuse.c: calls every export of cloudsight.h with NULL pointers, zero lengths, unknown link
 * types, invalid encodings and tiny buffers, and checks the documented result codes and that
 * outputs are left alone on failure. The catalog calls (load_catalog, set_policy,
 * set_domain_policy, lookup_app) get the same treatment, plus bad formats, modes and catalogs.
 * Exits 0 when every check holds, 1 otherwise.
 *
 * Also prints the sizes of the ABI structs ("layout ...") so that the Rust tests can compare them
 * with `std::mem::size_of` of the Rust definitions.
 *
 * Build: cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude examples/c/api_misuse.c \
 *           target/debug/libcloudsight.a -lpthread -ldl -lm -o api_misuse
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudsight.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            failures++;                                                               \
            fprintf(stderr, "api_misuse.c:%d: check failed: %s\n", __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define EXPECT(call, expected)                                                         \
    do {                                                                               \
        cloudsight_result got_ = (call);                                               \
        checks++;                                                                      \
        if (got_ != (expected)) {                                                      \
            failures++;                                                                \
            fprintf(stderr, "api_misuse.c:%d: %s\n  returned %u (%s), expected %s\n", \
                    __LINE__, #call, (unsigned)got_, cloudsight_result_text(got_),     \
                    #expected);                                                        \
        }                                                                              \
    } while (0)

/* A raw IPv4 (LINKTYPE 228) UDP datagram 10.0.0.1:5000 -> 10.0.0.2:6000 with 4 payload bytes. */
static const uint8_t UDP_FRAME[] = {
    0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
    10, 0, 0, 1, 10, 0, 0, 2,
    0x13, 0x88, 0x17, 0x70, 0x00, 0x0c, 0x00, 0x00,
    'd', 'a', 't', 'a',
};

static void result_text_and_version(void) {
    /* Codes are numbered from 0 without gaps; 0..6 exist since the first release. */
    uint32_t known = 0;
    while (known < 1000 && strcmp(cloudsight_result_text(known), "unknown result code") != 0) {
        CHECK(strlen(cloudsight_result_text(known)) > 0);
        known++;
    }
    CHECK(known > CLOUDSIGHT_RESULT_BUFFER_TOO_SMALL && known < 1000);
    CHECK(strcmp(cloudsight_result_text(CLOUDSIGHT_RESULT_OK), "success") == 0);
    CHECK(strcmp(cloudsight_result_text(1000), "unknown result code") == 0);
    CHECK(strcmp(cloudsight_result_text(UINT32_MAX), "unknown result code") == 0);
    const char *version = cloudsight_version();
    CHECK(version != NULL && version[0] >= '0' && version[0] <= '9' && strchr(version, '.'));
}

static void config_and_new(void) {
    EXPECT(cloudsight_config_default(NULL), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    cloudsight_config config;
    memset(&config, 0xab, sizeof config);
    config.struct_size = 2; /* too small even for struct_size */
    EXPECT(cloudsight_config_default(&config), CLOUDSIGHT_RESULT_STRUCT_SIZE);
    config.struct_size = sizeof config;
    EXPECT(cloudsight_config_default(&config), CLOUDSIGHT_RESULT_OK);
    CHECK(config.struct_size == sizeof config);
    CHECK(config.device_id == NULL && config.device_name == NULL);
    CHECK(config.max_flows > 0 && config.queue_capacity > 0);

    cloudsight_engine *sentinel = (cloudsight_engine *)&config; /* never dereferenced */
    cloudsight_engine *engine = sentinel;
    EXPECT(cloudsight_engine_new(&config, NULL), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_new(NULL, NULL), CLOUDSIGHT_RESULT_NULL_PARAMETER);

    cloudsight_config bad = config;
    bad.max_flows = 0;
    EXPECT(cloudsight_engine_new(&bad, &engine), CLOUDSIGHT_RESULT_INVALID_CONFIG);
    CHECK(engine == sentinel);
    bad = config;
    bad.queue_capacity = 0;
    EXPECT(cloudsight_engine_new(&bad, &engine), CLOUDSIGHT_RESULT_INVALID_CONFIG);
    bad = config;
    bad.queue_capacity = UINT64_MAX;
    EXPECT(cloudsight_engine_new(&bad, &engine), CLOUDSIGHT_RESULT_INVALID_CONFIG);
    bad = config;
    bad.tcp_idle_timeout_ns = 0;
    EXPECT(cloudsight_engine_new(&bad, &engine), CLOUDSIGHT_RESULT_INVALID_CONFIG);
    bad = config;
    bad.device_id = "\xff\xfe not UTF-8";
    EXPECT(cloudsight_engine_new(&bad, &engine), CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    bad = config;
    bad.device_name = "\xc3";
    EXPECT(cloudsight_engine_new(&bad, &engine), CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    bad = config;
    bad.community_id_seed = 70000;
    EXPECT(cloudsight_engine_new(&bad, &engine), CLOUDSIGHT_RESULT_INVALID_CONFIG);
    bad = config;
    bad.struct_size = 3;
    EXPECT(cloudsight_engine_new(&bad, &engine), CLOUDSIGHT_RESULT_STRUCT_SIZE);
    CHECK(engine == sentinel);

    /* NULL config: the defaults. */
    engine = NULL;
    EXPECT(cloudsight_engine_new(NULL, &engine), CLOUDSIGHT_RESULT_OK);
    CHECK(engine != NULL);
    cloudsight_engine_free(engine);

    cloudsight_engine_free(NULL); /* a no-op */
}

static cloudsight_engine *make_engine(void) {
    cloudsight_config config = {0};
    config.struct_size = sizeof config;
    cloudsight_engine *engine = NULL;
    if (cloudsight_config_default(&config) != CLOUDSIGHT_RESULT_OK) return NULL;
    config.device_id = "misuse";
    config.device_name = "api misuse test";
    if (cloudsight_engine_new(&config, &engine) != CLOUDSIGHT_RESULT_OK) return NULL;
    return engine;
}

static void process_packet(cloudsight_engine *engine) {
    cloudsight_verdict verdict = 77;
    EXPECT(cloudsight_engine_process_packet(NULL, 228, UDP_FRAME, sizeof UDP_FRAME, 1, NULL, &verdict),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_process_packet(engine, 228, NULL, 5, 1, NULL, &verdict),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_process_packet(engine, 9999, UDP_FRAME, sizeof UDP_FRAME, 1, NULL, &verdict),
           CLOUDSIGHT_RESULT_UNKNOWN_LINK_TYPE);
    EXPECT(cloudsight_engine_process_packet(engine, 147, UDP_FRAME, sizeof UDP_FRAME, 1, NULL, &verdict),
           CLOUDSIGHT_RESULT_UNKNOWN_LINK_TYPE);
    CHECK(verdict == CLOUDSIGHT_VERDICT_ALLOW); /* errors leave the fail-open verdict */
    /* A context never costs the packet: not UTF-8 is decoded lossily, a bad struct_size skipped. */
    cloudsight_context lossy_ctx = {sizeof lossy_ctx, 7 /* any non-zero is true */, 42, 0, 0,
                                    "/tmp/\xff\xfe-evil", NULL, NULL};
    verdict = 77;
    EXPECT(cloudsight_engine_process_packet(engine, 228, UDP_FRAME, sizeof UDP_FRAME, 1, &lossy_ctx, &verdict),
           CLOUDSIGHT_RESULT_OK);
    CHECK(verdict == CLOUDSIGHT_VERDICT_ALLOW);
    cloudsight_context short_ctx = {2, 1, 42, 0, 0, NULL, NULL, NULL};
    EXPECT(cloudsight_engine_process_packet(engine, 228, UDP_FRAME, sizeof UDP_FRAME, 1, &short_ctx, NULL),
           CLOUDSIGHT_RESULT_OK);

    /* Zero-length frames (with or without a data pointer) are counted, not errors. */
    EXPECT(cloudsight_engine_process_packet(engine, 1, NULL, 0, 1, NULL, &verdict), CLOUDSIGHT_RESULT_OK);
    CHECK(verdict == CLOUDSIGHT_VERDICT_ALLOW);
    EXPECT(cloudsight_engine_process_packet(engine, 228, UDP_FRAME, 0, 1, NULL, NULL), CLOUDSIGHT_RESULT_OK);
    /* A truncated frame and a frame that is not IP. */
    EXPECT(cloudsight_engine_process_packet(engine, 1, UDP_FRAME, 7, 1, NULL, NULL), CLOUDSIGHT_RESULT_OK);
    EXPECT(cloudsight_engine_process_packet(engine, 228, UDP_FRAME, 9, 1, NULL, NULL), CLOUDSIGHT_RESULT_OK);
    /* The real thing, with and without context and verdict. */
    cloudsight_context ctx = {sizeof ctx, 1, 4242, 0, 1000, "/usr/bin/curl", "alice", "1000"};
    verdict = 77;
    EXPECT(cloudsight_engine_process_packet(engine, 228, UDP_FRAME, sizeof UDP_FRAME, 1000000000u, &ctx, &verdict),
           CLOUDSIGHT_RESULT_OK);
    CHECK(verdict == CLOUDSIGHT_VERDICT_ALLOW);
    EXPECT(cloudsight_engine_process_packet(engine, 101, UDP_FRAME, sizeof UDP_FRAME, 1000000001u, NULL, NULL),
           CLOUDSIGHT_RESULT_OK);
}

static void bind_context(cloudsight_engine *engine) {
    cloudsight_flow_tuple tuple;
    memset(&tuple, 0, sizeof tuple);
    tuple.struct_size = sizeof tuple;
    tuple.protocol = 6;
    tuple.src.family = CLOUDSIGHT_IP_FAMILY_V4;
    tuple.src.addr[0] = 10; tuple.src.addr[3] = 1;
    tuple.src_port = 40000;
    tuple.dst.family = CLOUDSIGHT_IP_FAMILY_V6;
    tuple.dst.addr[0] = 0x20; tuple.dst.addr[1] = 0x01; tuple.dst.addr[15] = 1;
    tuple.dst_port = 443;
    cloudsight_context ctx = {sizeof ctx, 0, 0, 0, 0, NULL, "bob", NULL};
    EXPECT(cloudsight_engine_bind_context(NULL, &tuple, &ctx, 1), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_bind_context(engine, NULL, &ctx, 1), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_bind_context(engine, &tuple, NULL, 1), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    cloudsight_flow_tuple bad = tuple;
    bad.protocol = 1;
    EXPECT(cloudsight_engine_bind_context(engine, &bad, &ctx, 1), CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    bad = tuple;
    bad.src.family = CLOUDSIGHT_IP_FAMILY_NONE;
    EXPECT(cloudsight_engine_bind_context(engine, &bad, &ctx, 1), CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    bad = tuple;
    bad.dst.family = 5;
    EXPECT(cloudsight_engine_bind_context(engine, &bad, &ctx, 1), CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    bad = tuple;
    bad.struct_size = 12; /* too small for the addresses */
    EXPECT(cloudsight_engine_bind_context(engine, &bad, &ctx, 1), CLOUDSIGHT_RESULT_STRUCT_SIZE);
    cloudsight_context lossy_ctx = {sizeof lossy_ctx, 0, 0, 0, 0, NULL, NULL, "\x80"};
    EXPECT(cloudsight_engine_bind_context(engine, &tuple, &lossy_ctx, 1), CLOUDSIGHT_RESULT_OK);
    cloudsight_context bad_ctx = {1, 0, 0, 0, 0, NULL, NULL, NULL};
    EXPECT(cloudsight_engine_bind_context(engine, &tuple, &bad_ctx, 1), CLOUDSIGHT_RESULT_STRUCT_SIZE);
    EXPECT(cloudsight_engine_bind_context(engine, &tuple, &ctx, 1), CLOUDSIGHT_RESULT_OK);
}

static void tick_flush_stats(cloudsight_engine *engine) {
    EXPECT(cloudsight_engine_tick(NULL, 1), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_flush(NULL, 1), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    cloudsight_stats stats = {0};
    stats.struct_size = sizeof stats;
    EXPECT(cloudsight_engine_stats(NULL, &stats), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_stats(engine, NULL), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_tick(engine, 1500000000u), CLOUDSIGHT_RESULT_OK);
    /* Time that goes backwards is tolerated. */
    EXPECT(cloudsight_engine_tick(engine, 5), CLOUDSIGHT_RESULT_OK);
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    EXPECT(cloudsight_engine_stats(engine, &stats), CLOUDSIGHT_RESULT_OK);
    CHECK(stats.struct_size == sizeof stats && stats.poisoned == 0);
    CHECK(stats.packets == 8); /* the eight calls above that succeeded */
    CHECK(stats.context_invalid == 1); /* short_ctx */
    CHECK(stats.flows_created == 1);
    CHECK(stats.flows_active == 1);
    EXPECT(cloudsight_engine_flush(engine, 2000000000u), CLOUDSIGHT_RESULT_OK);
    EXPECT(cloudsight_engine_stats(engine, &stats), CLOUDSIGHT_RESULT_OK);
    CHECK(stats.flows_active == 0);
    CHECK(stats.records == 1 && stats.records_queued == 1);
}

static void drain_encoded(cloudsight_engine *engine) {
    uint8_t tiny[8];
    size_t written = 12345;
    EXPECT(cloudsight_engine_drain_encoded(NULL, CLOUDSIGHT_ENCODING_JSON_LINES, tiny, sizeof tiny, &written),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_JSON_LINES, tiny, sizeof tiny, NULL),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_JSON_LINES, NULL, 16, &written),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_drain_encoded(engine, 0, tiny, sizeof tiny, &written),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_drain_encoded(engine, 3, tiny, sizeof tiny, &written),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_drain_encoded(engine, UINT32_MAX, tiny, sizeof tiny, &written),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_JSON_LINES, tiny, SIZE_MAX, &written),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    CHECK(written == 0); /* *written is 0 on every error */

    /* Too small: nothing is taken and *written says how much the record needs. */
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_JSON_LINES, tiny, sizeof tiny, &written),
           CLOUDSIGHT_RESULT_BUFFER_TOO_SMALL);
    size_t needed = written;
    CHECK(needed > sizeof tiny && needed < 4096);
    written = 0;
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_JSON_LINES, NULL, 0, &written),
           CLOUDSIGHT_RESULT_BUFFER_TOO_SMALL);
    CHECK(written == needed);
    size_t bin_needed = 0;
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_BINCODE_BATCH, tiny, sizeof tiny, &bin_needed),
           CLOUDSIGHT_RESULT_BUFFER_TOO_SMALL);
    CHECK(bin_needed > sizeof tiny);

    /* One byte short still does not fit; the exact size does. */
    uint8_t *buf = malloc(needed);
    if (buf == NULL) { failures++; return; }
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_JSON_LINES, buf, needed - 1, &written),
           CLOUDSIGHT_RESULT_BUFFER_TOO_SMALL);
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_JSON_LINES, buf, needed, &written),
           CLOUDSIGHT_RESULT_OK);
    CHECK(written == needed);
    CHECK(buf[0] == '{' && buf[needed - 1] == '\n');
    CHECK(memchr(buf, '\0', needed) == NULL); /* JSON lines are not NUL-terminated */
    free(buf);

    /* Nothing left: success with 0 bytes, even with no buffer. */
    written = 99;
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_JSON_LINES, NULL, 0, &written),
           CLOUDSIGHT_RESULT_OK);
    CHECK(written == 0);
    written = 99;
    EXPECT(cloudsight_engine_drain_encoded(engine, CLOUDSIGHT_ENCODING_BINCODE_BATCH, tiny, sizeof tiny, &written),
           CLOUDSIGHT_RESULT_OK);
    CHECK(written == 0);
}

static void drain_structs(void) {
    cloudsight_engine *engine = make_engine();
    CHECK(engine != NULL);
    if (engine == NULL) return;
    EXPECT(cloudsight_engine_process_packet(engine, 228, UDP_FRAME, sizeof UDP_FRAME, 1000, NULL, NULL),
           CLOUDSIGHT_RESULT_OK);
    EXPECT(cloudsight_engine_flush(engine, 2000), CLOUDSIGHT_RESULT_OK);

    cloudsight_record records[2];
    size_t written = 12345;
    EXPECT(cloudsight_engine_drain(NULL, records, 2, sizeof *records, &written), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    CHECK(written == 0); /* *written is 0 on every error */
    EXPECT(cloudsight_engine_drain(engine, records, 2, sizeof *records, NULL), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_drain(engine, NULL, 2, sizeof *records, &written), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_drain(engine, records, 2, 3, &written), CLOUDSIGHT_RESULT_STRUCT_SIZE);
    EXPECT(cloudsight_engine_drain(engine, records, SIZE_MAX / 2, sizeof *records, &written),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    CHECK(written == 0);
    /* Capacity 0: nothing taken. */
    EXPECT(cloudsight_engine_drain(engine, NULL, 0, sizeof *records, &written), CLOUDSIGHT_RESULT_OK);
    CHECK(written == 0);
    EXPECT(cloudsight_engine_drain(engine, records, 0, sizeof *records, &written), CLOUDSIGHT_RESULT_OK);
    CHECK(written == 0);
    EXPECT(cloudsight_engine_drain(engine, records, 2, sizeof *records, &written), CLOUDSIGHT_RESULT_OK);
    CHECK(written == 1);
    if (written == 1) {
        const cloudsight_record *r = &records[0];
        CHECK(r->protocol == CLOUDSIGHT_PROTOCOL_UDP && r->event == CLOUDSIGHT_EVENT_CLOSE &&
              r->reason == CLOUDSIGHT_REASON_FLUSH && r->name_source == CLOUDSIGHT_NAME_SOURCE_NONE);
        CHECK(r->client_ip.family == CLOUDSIGHT_IP_FAMILY_V4 && r->client_ip.addr[3] == 1);
        CHECK(r->client_port == 5000 && r->server_port == 6000);
        CHECK(r->bytes_up == sizeof UDP_FRAME && r->bytes_down == 0 && r->packets_up == 1);
        CHECK(r->first_seen_ns == 1000 && r->last_seen_ns == 1000);
        CHECK(strncmp(r->community_id, "1:", 2) == 0 && strlen(r->community_id) == 30);
        CHECK(r->verdict == CLOUDSIGHT_VERDICT_ALLOW && !r->has_app && r->truncated == 0);
        CHECK(r->struct_size == sizeof *r);
        CHECK(r->server_name[0] == '\0');
    }
    EXPECT(cloudsight_engine_drain(engine, records, 2, sizeof *records, &written), CLOUDSIGHT_RESULT_OK);
    CHECK(written == 0);
    cloudsight_engine_free(engine);
}

/* The values of cloudsight_catalog_format, cloudsight_catalog_mode and cloudsight_sanction
 * (src/capi/catalog.rs): the catalog calls take them as uint32_t. */
enum {
    MISUSE_FORMAT_TOML = 1,
    MISUSE_FORMAT_JSON = 2,
    MISUSE_MODE_REPLACE = 1,
    MISUSE_MODE_EXTEND = 2,
    MISUSE_SANCTIONED = 0,
    MISUSE_UNSANCTIONED = 1,
    MISUSE_MONITORED = 2,
};

static void catalog_and_policy(void) {
    static const char good[] =
        "schema_version = 1\n"
        "apps = [ { id = \"misuse-app\", name = \"Misuse App\", category = \"cloudStorage\","
        " domains = [\"misuse-app.example\"] } ]\n";
    static const char good_json[] =
        "{\"schema_version\": 1, \"apps\": [{\"id\": \"misuse-json\", \"name\": \"Misuse JSON\","
        " \"category\": \"cloudStorage\", \"hosts\": [\"json.misuse.example\"]}]}";
    static const char bad[] =
        "schema_version = 1\n"
        "apps = [ { id = \"misuse-app\", name = \"Misuse App\", category = \"nope\","
        " domains = [\"misuse-app.example\"] } ]\n";
    static const uint8_t not_utf8[] = {'s', 'c', 0xff, 0xfe, '\n'};
    const uint8_t *good_text = (const uint8_t *)good;
    cloudsight_engine *engine = make_engine();
    CHECK(engine != NULL);
    if (engine == NULL) return;

    /* cloudsight_engine_load_catalog */
    char error[128];
    memset(error, 'x', sizeof error);
    EXPECT(cloudsight_engine_load_catalog(NULL, good_text, strlen(good), MISUSE_FORMAT_TOML,
                                          MISUSE_MODE_EXTEND, error, sizeof error),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_load_catalog(engine, NULL, 10, MISUSE_FORMAT_TOML, MISUSE_MODE_EXTEND,
                                          error, sizeof error),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_load_catalog(engine, good_text, strlen(good), 0, MISUSE_MODE_EXTEND,
                                          error, sizeof error),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_load_catalog(engine, good_text, strlen(good), 3, MISUSE_MODE_EXTEND,
                                          error, sizeof error),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_load_catalog(engine, good_text, strlen(good), MISUSE_FORMAT_TOML, 0,
                                          error, sizeof error),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_load_catalog(engine, good_text, strlen(good), MISUSE_FORMAT_TOML,
                                          UINT32_MAX, error, sizeof error),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_load_catalog(engine, good_text, SIZE_MAX, MISUSE_FORMAT_TOML,
                                          MISUSE_MODE_EXTEND, error, sizeof error),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    CHECK(error[0] == 'x'); /* no message for argument errors */
    /* A catalog that does not load: the message is written (NUL-terminated, cut to the buffer),
     * or not at all when there is no buffer. */
    EXPECT(cloudsight_engine_load_catalog(engine, not_utf8, sizeof not_utf8, MISUSE_FORMAT_TOML,
                                          MISUSE_MODE_EXTEND, error, sizeof error),
           CLOUDSIGHT_RESULT_INVALID_CATALOG);
    CHECK(memchr(error, '\0', sizeof error) != NULL && strstr(error, "UTF-8") != NULL);
    memset(error, 'x', sizeof error);
    EXPECT(cloudsight_engine_load_catalog(engine, (const uint8_t *)bad, strlen(bad),
                                          MISUSE_FORMAT_TOML, MISUSE_MODE_EXTEND, error, sizeof error),
           CLOUDSIGHT_RESULT_INVALID_CATALOG);
    CHECK(memchr(error, '\0', sizeof error) != NULL && strstr(error, "line 2") != NULL);
    CHECK(strstr(error, "nope") != NULL);
    char cut[4];
    memset(cut, 'x', sizeof cut);
    EXPECT(cloudsight_engine_load_catalog(engine, (const uint8_t *)bad, strlen(bad),
                                          MISUSE_FORMAT_TOML, MISUSE_MODE_EXTEND, cut, sizeof cut),
           CLOUDSIGHT_RESULT_INVALID_CATALOG);
    CHECK(memchr(cut, '\0', sizeof cut) != NULL);
    memset(cut, 'x', sizeof cut);
    EXPECT(cloudsight_engine_load_catalog(engine, (const uint8_t *)bad, strlen(bad),
                                          MISUSE_FORMAT_TOML, MISUSE_MODE_EXTEND, cut, 0),
           CLOUDSIGHT_RESULT_INVALID_CATALOG);
    CHECK(cut[0] == 'x'); /* error_len 0: nothing written */
    EXPECT(cloudsight_engine_load_catalog(engine, (const uint8_t *)bad, strlen(bad),
                                          MISUSE_FORMAT_TOML, MISUSE_MODE_EXTEND, NULL, 64),
           CLOUDSIGHT_RESULT_INVALID_CATALOG);
    /* TOML text given as JSON, and an empty text (no schema_version). */
    EXPECT(cloudsight_engine_load_catalog(engine, good_text, strlen(good), MISUSE_FORMAT_JSON,
                                          MISUSE_MODE_EXTEND, NULL, 0),
           CLOUDSIGHT_RESULT_INVALID_CATALOG);
    EXPECT(cloudsight_engine_load_catalog(engine, good_text, 0, MISUSE_FORMAT_TOML,
                                          MISUSE_MODE_EXTEND, NULL, 0),
           CLOUDSIGHT_RESULT_INVALID_CATALOG);

    /* Nothing above loaded: the embedded catalog is in force. */
    cloudsight_app_info info;
    memset(&info, 0xab, sizeof info);
    info.struct_size = sizeof info;
    EXPECT(cloudsight_engine_lookup_app(engine, "www.misuse-app.example", &info),
           CLOUDSIGHT_RESULT_NOT_FOUND);
    CHECK((unsigned char)info.id[0] == 0xab && info.risk == 0xab); /* untouched on failure */
    EXPECT(cloudsight_engine_set_policy(engine, "misuse-app", MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_UNKNOWN_APP);

    EXPECT(cloudsight_engine_load_catalog(engine, good_text, strlen(good), MISUSE_FORMAT_TOML,
                                          MISUSE_MODE_EXTEND, NULL, 0),
           CLOUDSIGHT_RESULT_OK);
    EXPECT(cloudsight_engine_load_catalog(engine, (const uint8_t *)good_json, strlen(good_json),
                                          MISUSE_FORMAT_JSON, MISUSE_MODE_EXTEND, error, sizeof error),
           CLOUDSIGHT_RESULT_OK);

    /* cloudsight_engine_lookup_app */
    EXPECT(cloudsight_engine_lookup_app(NULL, "misuse-app.example", &info),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_lookup_app(engine, NULL, &info), CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_lookup_app(engine, "misuse-app.example", NULL),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_lookup_app(engine, "\xff.misuse-app.example", &info),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_lookup_app(engine, "", &info), CLOUDSIGHT_RESULT_NOT_FOUND);
    EXPECT(cloudsight_engine_lookup_app(engine, "evilmisuse-app.example", &info),
           CLOUDSIGHT_RESULT_NOT_FOUND);
    CHECK((unsigned char)info.id[0] == 0xab);
    EXPECT(cloudsight_engine_lookup_app(engine, "a.b.misuse-app.example", &info),
           CLOUDSIGHT_RESULT_OK);
    CHECK(strcmp(info.id, "misuse-app") == 0 && strcmp(info.name, "Misuse App") == 0);
    CHECK(strcmp(info.category, "cloudStorage") == 0 && info.risk <= 10);
    EXPECT(cloudsight_engine_lookup_app(engine, "json.misuse.example", &info), CLOUDSIGHT_RESULT_OK);
    CHECK(strcmp(info.id, "misuse-json") == 0);
    /* Extend mode kept the embedded apps. */
    EXPECT(cloudsight_engine_lookup_app(engine, "files.slack.com", &info), CLOUDSIGHT_RESULT_OK);
    CHECK(strcmp(info.id, "slack") == 0);

    /* cloudsight_engine_set_policy */
    EXPECT(cloudsight_engine_set_policy(NULL, "misuse-app", MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_set_policy(engine, NULL, MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_set_policy(engine, "misuse-app", 3), CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_set_policy(engine, "misuse-app", UINT32_MAX),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_set_policy(engine, "\xc3", MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_set_policy(engine, "no-such-app", MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_UNKNOWN_APP);
    EXPECT(cloudsight_engine_set_policy(engine, "", MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_UNKNOWN_APP);
    EXPECT(cloudsight_engine_set_policy(engine, "misuse-app", MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_OK);
    EXPECT(cloudsight_engine_set_policy(engine, "misuse-app", MISUSE_MONITORED), CLOUDSIGHT_RESULT_OK);
    EXPECT(cloudsight_engine_set_policy(engine, "slack", MISUSE_SANCTIONED), CLOUDSIGHT_RESULT_OK);

    /* cloudsight_engine_set_domain_policy */
    EXPECT(cloudsight_engine_set_domain_policy(NULL, "example.co.uk", MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_set_domain_policy(engine, NULL, MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_NULL_PARAMETER);
    EXPECT(cloudsight_engine_set_domain_policy(engine, "example.co.uk", 3),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_set_domain_policy(engine, "\xff" "example.co.uk", MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_INVALID_ARGUMENT);
    EXPECT(cloudsight_engine_set_domain_policy(engine, "example.co.uk", MISUSE_UNSANCTIONED),
           CLOUDSIGHT_RESULT_OK);
    EXPECT(cloudsight_engine_set_domain_policy(engine, "example.co.uk", MISUSE_SANCTIONED),
           CLOUDSIGHT_RESULT_OK);

    /* Replace mode: only the loaded apps remain. */
    EXPECT(cloudsight_engine_load_catalog(engine, good_text, strlen(good), MISUSE_FORMAT_TOML,
                                          MISUSE_MODE_REPLACE, NULL, 0),
           CLOUDSIGHT_RESULT_OK);
    EXPECT(cloudsight_engine_lookup_app(engine, "files.slack.com", &info), CLOUDSIGHT_RESULT_NOT_FOUND);
    EXPECT(cloudsight_engine_set_policy(engine, "slack", MISUSE_SANCTIONED),
           CLOUDSIGHT_RESULT_UNKNOWN_APP);
    EXPECT(cloudsight_engine_lookup_app(engine, "misuse-app.example", &info), CLOUDSIGHT_RESULT_OK);
    cloudsight_engine_free(engine);
}

int main(void) {
    printf("layout record=%zu config=%zu context=%zu stats=%zu flow_tuple=%zu ip=%zu\n",
           sizeof(cloudsight_record), sizeof(cloudsight_config), sizeof(cloudsight_context),
           sizeof(cloudsight_stats), sizeof(cloudsight_flow_tuple), sizeof(cloudsight_ip));
    CHECK(sizeof(cloudsight_result) == 4 && sizeof(cloudsight_verdict) == 4);
    CHECK(sizeof(cloudsight_ip_family) == 1);
    CHECK(cloudsight_version_number() == CLOUDSIGHT_VERSION_NUMBER);

    result_text_and_version();
    config_and_new();
    cloudsight_engine *engine = make_engine();
    CHECK(engine != NULL);
    if (engine != NULL) {
        process_packet(engine);
        bind_context(engine);
        tick_flush_stats(engine);
        drain_encoded(engine);
        cloudsight_engine_free(engine);
    }
    drain_structs();
    catalog_and_policy();

    if (failures != 0) {
        fprintf(stderr, "api_misuse: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("api_misuse: all %d checks passed\n", checks);
    return 0;
}
