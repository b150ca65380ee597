/*
 * policy.c: catalog and policy through the C ABI (issue 5), the C twin of tests/policy_verdict.rs.
 *
 * 1. Creates an engine and loads a custom TOML catalog (one app, `acme-files`, domain
 *    `acme-files.example`) in extend mode with cloudsight_engine_load_catalog, then marks the app
 *    unsanctioned with cloudsight_engine_set_policy.
 * 2. Feeds raw-IP packets (LINKTYPE 101) it builds itself: TCP SYN, SYN-ACK, ACK (verdict ALLOW:
 *    the flow has no name yet), then a TLS ClientHello with SNI `upload.acme-files.example`: BLOCK
 *    on that packet and on every later packet of the flow, in both directions.
 * 3. Loads a bad catalog (unknown category): CLOUDSIGHT_RESULT_INVALID_CATALOG with a message that
 *    names the line; the catalog in force stays (cloudsight_engine_lookup_app still finds
 *    `acme-files` for `cdn.acme-files.example`).
 * 4. Flushes and drains the flow's record with cloudsight_engine_drain: has_app, verdict BLOCK,
 *    server_name `upload.acme-files.example`.
 *
 * Exits 0 when every check holds, 1 otherwise (each failure is printed on stderr).
 *
 * Build: cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude examples/c/policy.c \
 *           target/debug/libcloudsight.a -lpthread -ldl -lm -o policy
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudsight.h"

/* The values of cloudsight_catalog_format, cloudsight_catalog_mode and cloudsight_sanction
 * (src/capi/catalog.rs). The functions take them as uint32_t; local names so that this file
 * builds whether or not the header declares those enums. */
enum {
    FORMAT_TOML = 1,
    MODE_EXTEND = 2,
    SANCTION_UNSANCTIONED = 1,
};

static int failures = 0;

#define CHECK(cond, ...)                                                \
    do {                                                                \
        if (!(cond)) {                                                  \
            failures++;                                                 \
            fprintf(stderr, "policy.c:%d: check failed: %s: ", __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                               \
            fputc('\n', stderr);                                        \
        }                                                               \
    } while (0)

#define EXPECT(call, expected)                                                          \
    do {                                                                                \
        cloudsight_result got_ = (call);                                                \
        if (got_ != (expected)) {                                                       \
            failures++;                                                                 \
            fprintf(stderr, "policy.c:%d: %s\n  returned %u (%s), expected %s\n",       \
                    __LINE__, #call, (unsigned)got_, cloudsight_result_text(got_),      \
                    #expected);                                                         \
        }                                                                               \
    } while (0)

static const char CATALOG[] =
    "schema_version = 1\n"
    "apps = [\n"
    "  { id = \"acme-files\", name = \"Acme Files\", category = \"cloudStorage\", risk = 4,\n"
    "    domains = [\"acme-files.example\"] },\n"
    "]\n";

/* Line 4 names a category that does not exist. */
static const char BAD_CATALOG[] =
    "schema_version = 1\n"
    "apps = [\n"
    "  { id = \"acme-files\", name = \"Acme Files\",\n"
    "    category = \"notACategory\", domains = [\"acme-files.example\"] },\n"
    "]\n";

static const char SNI[] = "upload.acme-files.example";

static const uint8_t CLIENT[4] = {10, 0, 0, 5};
static const uint8_t SERVER[4] = {198, 51, 100, 7};
enum { CLIENT_PORT = 40000, SERVER_PORT = 443 };
enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_PSH = 0x08, TCP_ACK = 0x10 };

/* ---- a tiny byte writer --------------------------------------------------------------------- */

struct buf {
    uint8_t data[1024];
    size_t len;
};

static void put8(struct buf *b, uint8_t v) {
    if (b->len >= sizeof b->data) { fprintf(stderr, "policy: buffer overflow\n"); exit(1); }
    b->data[b->len++] = v;
}
static void put16(struct buf *b, uint16_t v) { put8(b, (uint8_t)(v >> 8)); put8(b, (uint8_t)v); }
static void put32(struct buf *b, uint32_t v) { put16(b, (uint16_t)(v >> 16)); put16(b, (uint16_t)v); }
static void put_bytes(struct buf *b, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) put8(b, ((const uint8_t *)p)[i]);
}
/* Reserve a big-endian length of `width` bytes (2 or 3); patch() fills it in later. */
static size_t reserve(struct buf *b, int width) {
    size_t at = b->len;
    for (int i = 0; i < width; i++) put8(b, 0);
    return at;
}
static void patch(struct buf *b, size_t at, int width) {
    size_t n = b->len - at - (size_t)width;
    for (int i = width - 1; i >= 0; i--) {
        b->data[at + (size_t)i] = (uint8_t)n;
        n >>= 8;
    }
}

/* A TLS 1.2-record ClientHello (TLS 1.3 style: supported_versions) with SNI `SNI` and ALPN h2. */
static void client_hello(struct buf *b) {
    b->len = 0;
    put8(b, 0x16);                 /* record: handshake */
    put16(b, 0x0301);              /* record version TLS 1.0, as clients send */
    size_t record = reserve(b, 2);
    put8(b, 0x01);                 /* handshake type: ClientHello */
    size_t hs = reserve(b, 3);
    put16(b, 0x0303);              /* legacy_version TLS 1.2 */
    for (int i = 0; i < 32; i++) put8(b, (uint8_t)(0x40 + i)); /* random */
    put8(b, 32);                   /* legacy_session_id */
    for (int i = 0; i < 32; i++) put8(b, (uint8_t)(0xa0 + i));
    static const uint16_t suites[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f};
    put16(b, (uint16_t)(2 * (sizeof suites / sizeof suites[0])));
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) put16(b, suites[i]);
    put8(b, 1);                    /* compression methods: null */
    put8(b, 0);
    size_t exts = reserve(b, 2);
    /* server_name */
    put16(b, 0x0000);
    size_t ext = reserve(b, 2);
    size_t list = reserve(b, 2);
    put8(b, 0);                    /* host_name */
    put16(b, (uint16_t)strlen(SNI));
    put_bytes(b, SNI, strlen(SNI));
    patch(b, list, 2);
    patch(b, ext, 2);
    /* supported_groups: x25519, secp256r1 */
    put16(b, 0x000a); put16(b, 6); put16(b, 4); put16(b, 0x001d); put16(b, 0x0017);
    /* signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256 */
    put16(b, 0x000d); put16(b, 6); put16(b, 4); put16(b, 0x0403); put16(b, 0x0804);
    /* application_layer_protocol_negotiation: h2 */
    put16(b, 0x0010); put16(b, 5); put16(b, 3); put8(b, 2); put8(b, 'h'); put8(b, '2');
    /* supported_versions: TLS 1.3, TLS 1.2 */
    put16(b, 0x002b); put16(b, 5); put8(b, 4); put16(b, 0x0304); put16(b, 0x0303);
    patch(b, exts, 2);
    patch(b, hs, 3);
    patch(b, record, 2);
}

/* An IPv4 + TCP packet (no options; checksums 0: the library does not verify them). */
static void tcp_packet(struct buf *b, bool from_client, uint8_t flags, uint32_t seq, uint32_t ack,
                       const uint8_t *payload, size_t len) {
    struct buf tmp;
    tmp.len = 0;
    put8(&tmp, 0x45);                           /* IPv4, IHL 5 */
    put8(&tmp, 0);                              /* DSCP/ECN */
    put16(&tmp, (uint16_t)(20 + 20 + len));     /* total length */
    put16(&tmp, 0x1234);                        /* identification */
    put16(&tmp, 0x4000);                        /* DF, offset 0 */
    put8(&tmp, 64);                             /* TTL */
    put8(&tmp, 6);                              /* TCP */
    put16(&tmp, 0);                             /* header checksum: not verified */
    put_bytes(&tmp, from_client ? CLIENT : SERVER, 4);
    put_bytes(&tmp, from_client ? SERVER : CLIENT, 4);
    put16(&tmp, from_client ? CLIENT_PORT : SERVER_PORT);
    put16(&tmp, from_client ? SERVER_PORT : CLIENT_PORT);
    put32(&tmp, seq);
    put32(&tmp, (flags & TCP_ACK) ? ack : 0);
    put8(&tmp, 5 << 4);                         /* data offset 5 words */
    put8(&tmp, flags);
    put16(&tmp, 64000);                         /* window */
    put16(&tmp, 0);                             /* checksum: not verified */
    put16(&tmp, 0);                             /* urgent pointer */
    put_bytes(&tmp, payload, len);
    *b = tmp;
}

/* ---- the scenario --------------------------------------------------------------------------- */

static uint64_t now_ns = 1700000000000000000ull;

/* Feed one packet; returns its verdict, or 99 when the call failed. */
static uint32_t feed(cloudsight_engine *engine, const struct buf *packet) {
    now_ns += 1000000; /* 1 ms apart */
    cloudsight_verdict verdict = 77;
    cloudsight_result r = cloudsight_engine_process_packet(engine, 101, packet->data, packet->len,
                                                           now_ns, NULL, &verdict);
    if (r != CLOUDSIGHT_RESULT_OK) {
        failures++;
        fprintf(stderr, "policy.c: cloudsight_engine_process_packet: %s (%u)\n",
                cloudsight_result_text(r), (unsigned)r);
        return 99;
    }
    return (uint32_t)verdict;
}

static const char *verdict_name(uint32_t v) {
    switch (v) {
    case CLOUDSIGHT_VERDICT_ALLOW: return "ALLOW";
    case CLOUDSIGHT_VERDICT_MONITOR: return "MONITOR";
    case CLOUDSIGHT_VERDICT_BLOCK: return "BLOCK";
    default: return "(failed call)";
    }
}

static void expect_verdict(cloudsight_engine *engine, const char *what, const struct buf *packet,
                           uint32_t expected) {
    uint32_t got = feed(engine, packet);
    CHECK(got == expected, "%s: verdict %s, expected %s", what, verdict_name(got),
          verdict_name(expected));
}

int main(void) {
    cloudsight_config config = {0};
    config.struct_size = sizeof config;
    cloudsight_engine *engine = NULL;
    EXPECT(cloudsight_config_default(&config), CLOUDSIGHT_RESULT_OK);
    config.device_id = "policy-example";
    cloudsight_result r = cloudsight_engine_new(&config, &engine);
    if (r != CLOUDSIGHT_RESULT_OK || engine == NULL) {
        fprintf(stderr, "policy: cloudsight_engine_new failed: %s\n", cloudsight_result_text(r));
        return 1;
    }

    /* 1. Custom catalog and policy. */
    char error[256];
    memset(error, 0, sizeof error);
    r = cloudsight_engine_load_catalog(engine, (const uint8_t *)CATALOG, strlen(CATALOG),
                                       FORMAT_TOML, MODE_EXTEND, error, sizeof error);
    CHECK(r == CLOUDSIGHT_RESULT_OK, "load_catalog: %s: %s", cloudsight_result_text(r), error);
    EXPECT(cloudsight_engine_set_policy(engine, "acme-files", SANCTION_UNSANCTIONED),
           CLOUDSIGHT_RESULT_OK);

    /* 2. The connection. */
    struct buf packet, hello;
    client_hello(&hello);
    uint32_t cseq = 1000, sseq = 50000;
    tcp_packet(&packet, true, TCP_SYN, cseq, 0, NULL, 0);
    expect_verdict(engine, "SYN", &packet, CLOUDSIGHT_VERDICT_ALLOW);
    cseq++;
    tcp_packet(&packet, false, TCP_SYN | TCP_ACK, sseq, cseq, NULL, 0);
    expect_verdict(engine, "SYN-ACK", &packet, CLOUDSIGHT_VERDICT_ALLOW);
    sseq++;
    tcp_packet(&packet, true, TCP_ACK, cseq, sseq, NULL, 0);
    expect_verdict(engine, "ACK", &packet, CLOUDSIGHT_VERDICT_ALLOW);

    tcp_packet(&packet, true, TCP_PSH | TCP_ACK, cseq, sseq, hello.data, hello.len);
    expect_verdict(engine, "ClientHello", &packet, CLOUDSIGHT_VERDICT_BLOCK);
    cseq += (uint32_t)hello.len;
    tcp_packet(&packet, false, TCP_ACK, sseq, cseq, NULL, 0);
    expect_verdict(engine, "server ACK of the hello", &packet, CLOUDSIGHT_VERDICT_BLOCK);
    static const uint8_t server_data[64] = {0x16, 0x03, 0x03, 0x00, 0x3b, 0x02};
    tcp_packet(&packet, false, TCP_PSH | TCP_ACK, sseq, cseq, server_data, sizeof server_data);
    expect_verdict(engine, "server data", &packet, CLOUDSIGHT_VERDICT_BLOCK);
    sseq += (uint32_t)sizeof server_data;
    tcp_packet(&packet, true, TCP_ACK, cseq, sseq, NULL, 0);
    expect_verdict(engine, "client ACK", &packet, CLOUDSIGHT_VERDICT_BLOCK);
    static const uint8_t client_data[32] = {0x17, 0x03, 0x03, 0x00, 0x1b};
    tcp_packet(&packet, true, TCP_PSH | TCP_ACK, cseq, sseq, client_data, sizeof client_data);
    expect_verdict(engine, "client data", &packet, CLOUDSIGHT_VERDICT_BLOCK);
    cseq += (uint32_t)sizeof client_data;
    tcp_packet(&packet, false, TCP_ACK, sseq, cseq, NULL, 0);
    expect_verdict(engine, "server ACK", &packet, CLOUDSIGHT_VERDICT_BLOCK);
    tcp_packet(&packet, true, TCP_FIN | TCP_ACK, cseq, sseq, NULL, 0);
    expect_verdict(engine, "client FIN", &packet, CLOUDSIGHT_VERDICT_BLOCK);
    cseq++;
    tcp_packet(&packet, false, TCP_FIN | TCP_ACK, sseq, cseq, NULL, 0);
    expect_verdict(engine, "server FIN", &packet, CLOUDSIGHT_VERDICT_BLOCK);
    sseq++;
    tcp_packet(&packet, true, TCP_ACK, cseq, sseq, NULL, 0);
    expect_verdict(engine, "last ACK", &packet, CLOUDSIGHT_VERDICT_BLOCK);

    /* 3. A bad catalog is refused with a message naming the line; the good one stays. */
    memset(error, 0, sizeof error);
    r = cloudsight_engine_load_catalog(engine, (const uint8_t *)BAD_CATALOG, strlen(BAD_CATALOG),
                                       FORMAT_TOML, MODE_EXTEND, error, sizeof error);
    CHECK(r == CLOUDSIGHT_RESULT_INVALID_CATALOG, "bad catalog: %u (%s)", (unsigned)r,
          cloudsight_result_text(r));
    CHECK(memchr(error, '\0', sizeof error) != NULL, "error message not NUL-terminated");
    error[sizeof error - 1] = '\0';
    CHECK(strstr(error, "line") != NULL, "error message lacks \"line\": \"%s\"", error);
    CHECK(strstr(error, "notACategory") != NULL, "error message lacks the category: \"%s\"", error);
    /* The message is cut to the buffer and still NUL-terminated. */
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    r = cloudsight_engine_load_catalog(engine, (const uint8_t *)BAD_CATALOG, strlen(BAD_CATALOG),
                                       FORMAT_TOML, MODE_EXTEND, tiny, sizeof tiny);
    CHECK(r == CLOUDSIGHT_RESULT_INVALID_CATALOG, "bad catalog (tiny buffer): %u", (unsigned)r);
    CHECK(memchr(tiny, '\0', sizeof tiny) != NULL, "cut error message not NUL-terminated");

    cloudsight_app_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    r = cloudsight_engine_lookup_app(engine, "cdn.acme-files.example", &info);
    CHECK(r == CLOUDSIGHT_RESULT_OK, "lookup_app(cdn.acme-files.example): %s",
          cloudsight_result_text(r));
    if (r == CLOUDSIGHT_RESULT_OK) {
        CHECK(strcmp(info.id, "acme-files") == 0, "lookup_app id \"%s\"", info.id);
        CHECK(strcmp(info.name, "Acme Files") == 0, "lookup_app name \"%s\"", info.name);
        CHECK(strcmp(info.category, "cloudStorage") == 0, "lookup_app category \"%s\"",
              info.category);
        CHECK(info.risk == 4, "lookup_app risk %u", (unsigned)info.risk);
    }

    /* 4. The flow's record. */
    EXPECT(cloudsight_engine_flush(engine, now_ns + 1000000), CLOUDSIGHT_RESULT_OK);
    cloudsight_record *record = calloc(1, sizeof *record);
    if (record == NULL) { fprintf(stderr, "policy: out of memory\n"); return 1; }
    size_t written = 0;
    EXPECT(cloudsight_engine_drain(engine, record, 1, sizeof *record, &written), CLOUDSIGHT_RESULT_OK);
    CHECK(written == 1, "drained %zu records, expected 1", written);
    if (written == 1) {
        CHECK(record->has_app, "record has no app");
        CHECK(strcmp(record->app_id, "acme-files") == 0, "record app_id \"%s\"", record->app_id);
        CHECK(record->verdict == CLOUDSIGHT_VERDICT_BLOCK, "record verdict %s",
              verdict_name(record->verdict));
        CHECK(strcmp(record->server_name, SNI) == 0, "record server_name \"%s\"",
              record->server_name);
        CHECK(record->name_source == CLOUDSIGHT_NAME_SOURCE_TLS_SNI, "record name_source %u, expected tls_sni",
              (unsigned)record->name_source);
        CHECK(record->protocol == CLOUDSIGHT_PROTOCOL_TCP && record->client_port == CLIENT_PORT &&
                  record->server_port == SERVER_PORT,
              "record tuple proto %u ports %u -> %u", (unsigned)record->protocol,
              (unsigned)record->client_port, (unsigned)record->server_port);
    }
    written = 99;
    EXPECT(cloudsight_engine_drain(engine, record, 1, sizeof *record, &written), CLOUDSIGHT_RESULT_OK);
    CHECK(written == 0, "a second record: %zu", written);
    free(record);
    cloudsight_engine_free(engine);

    if (failures != 0) {
        fprintf(stderr, "policy: %d checks failed\n", failures);
        return 1;
    }
    printf("policy: all checks passed\n");
    return 0;
}
