/*
 * abi_compat.c: callers compiled against other layouts than this header's keep working.
 *
 * 1. The including code packs structs to 1 byte (#pragma pack(1) before the #include): the header
 *    still lays its structs out naturally (its own #pragma pack(push, 8)), so the sizes are those
 *    the library uses (the header's static asserts would not even compile otherwise).
 * 2. An OLDER caller: its header's config ended after `max_fragments` and its record after
 *    `user_name` (as if the fields after them were added by a later release). Its structs are
 *    allocated with exactly their old size (malloc), so AddressSanitizer and valgrind (see
 *    .ci/c-sanitizers.sh) catch any read or write past them: the library must read the config
 *    only up to struct_size (defaults for the rest) and write each record only up to the stride.
 * 3. A NEWER caller: its structs have a field after this header's. Zero there: served; non-zero:
 *    CLOUDSIGHT_RESULT_STRUCT_SIZE. A longer record stride gets zeros past the library's fields.
 *
 * Exit status 0 when every check passes.
 */
#pragma pack(1)
#include "cloudsight.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "abi_compat.c:%d: check failed: %s\n", __LINE__, #cond); \
        }                                                                        \
    } while (0)

/* A UDP packet 10.0.0.1:5000 -> 10.0.0.2:6000, "data", as raw IPv4 (LINKTYPE 228). */
static const uint8_t UDP_FRAME[] = {
    0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1, 10, 0, 0,
    2, 0x13, 0x88, 0x17, 0x70, 0x00, 0x0c, 0x00, 0x00, 'd', 'a', 't', 'a',
};

/* The old caller's config: this header's fields up to and with max_fragments. */
#define OLD_CONFIG_SIZE (offsetof(cloudsight_config, max_fragments) + sizeof(uint64_t))
/* The old caller's record: this header's fields up to and with user_name. */
#define OLD_RECORD_SIZE (offsetof(cloudsight_record, user_name) + 256)

static void layout_is_natural_under_pack_1(void) {
    CHECK(sizeof(cloudsight_record) % 8 == 0); /* no packing: the u64 fields stay aligned */
    CHECK(offsetof(cloudsight_context, pid) == 8);
    CHECK(offsetof(cloudsight_record, flow_id) == 8);
    printf("layout under pack(1): record=%zu context=%zu config=%zu\n", sizeof(cloudsight_record),
           sizeof(cloudsight_context), sizeof(cloudsight_config));
}

static cloudsight_engine *engine_from_old_config(void) {
    /* cloudsight_config_default fills only the old fields... */
    cloudsight_config *old = malloc(OLD_CONFIG_SIZE);
    if (old == NULL) return NULL;
    memset(old, 0, OLD_CONFIG_SIZE);
    old->struct_size = (uint32_t)OLD_CONFIG_SIZE;
    CHECK(cloudsight_config_default(old) == CLOUDSIGHT_RESULT_OK);
    CHECK(old->struct_size == OLD_CONFIG_SIZE);
    CHECK(old->max_flows > 1000);
    old->max_flows = 1000;
    old->device_id = "old-caller";
    /* ...and cloudsight_engine_new reads only them: the rest take their defaults. */
    cloudsight_engine *engine = NULL;
    CHECK(cloudsight_engine_new(old, &engine) == CLOUDSIGHT_RESULT_OK);
    free(old);
    return engine;
}

static void old_caller(void) {
    cloudsight_engine *engine = engine_from_old_config();
    CHECK(engine != NULL);
    if (engine == NULL) return;
    cloudsight_stats stats = {0};
    stats.struct_size = sizeof stats;
    CHECK(cloudsight_engine_stats(engine, &stats) == CLOUDSIGHT_RESULT_OK);
    CHECK(stats.flow_capacity == 1000);

    /* Three flows (ports 5000, 5001, 5002), drained into an array of old, shorter records. */
    uint8_t frame[sizeof UDP_FRAME];
    for (int i = 0; i < 3; i++) {
        memcpy(frame, UDP_FRAME, sizeof frame);
        frame[21] = (uint8_t)(0x88 + i);
        CHECK(cloudsight_engine_process_packet(engine, 228, frame, sizeof frame, 1000 + (uint64_t)i,
                                               NULL, NULL) == CLOUDSIGHT_RESULT_OK);
    }
    CHECK(cloudsight_engine_flush(engine, 5000) == CLOUDSIGHT_RESULT_OK);
    uint8_t *old_records = malloc(3 * OLD_RECORD_SIZE);
    if (old_records == NULL) { failures++; cloudsight_engine_free(engine); return; }
    memset(old_records, 0xab, 3 * OLD_RECORD_SIZE);
    size_t written = 0;
    CHECK(cloudsight_engine_drain(engine, (cloudsight_record *)old_records, 3, OLD_RECORD_SIZE,
                                  &written) == CLOUDSIGHT_RESULT_OK);
    CHECK(written == 3);
    unsigned ports_seen = 0;
    for (size_t i = 0; i < written; i++) {
        const uint8_t *rec = old_records + i * OLD_RECORD_SIZE;
        uint32_t struct_size;
        uint16_t client_port;
        uint64_t bytes_up;
        memcpy(&struct_size, rec + offsetof(cloudsight_record, struct_size), sizeof struct_size);
        memcpy(&client_port, rec + offsetof(cloudsight_record, client_port), sizeof client_port);
        memcpy(&bytes_up, rec + offsetof(cloudsight_record, bytes_up), sizeof bytes_up);
        CHECK(struct_size == OLD_RECORD_SIZE);
        CHECK(bytes_up == sizeof UDP_FRAME);
        if (client_port >= 5000 && client_port < 5003) ports_seen |= 1u << (client_port - 5000);
        CHECK(rec[offsetof(cloudsight_record, event)] == CLOUDSIGHT_EVENT_CLOSE);
    }
    CHECK(ports_seen == 7);
    free(old_records);
    cloudsight_engine_free(engine);
}

struct newer_config {
    cloudsight_config base;
    uint64_t future_field;
};

struct newer_record {
    cloudsight_record base;
    uint64_t future_a;
    uint64_t future_b;
};

static void newer_caller(void) {
    struct newer_config config;
    memset(&config, 0, sizeof config);
    config.base.struct_size = sizeof config;
    CHECK(cloudsight_config_default(&config.base) == CLOUDSIGHT_RESULT_OK);
    /* The library filled what it knows and says so; the unknown field reads zero. */
    CHECK(config.base.struct_size == sizeof(cloudsight_config));
    CHECK(config.future_field == 0);

    cloudsight_engine *engine = NULL;
    config.base.struct_size = sizeof config;
    config.future_field = 42; /* a setting this library does not know: refused, not ignored */
    CHECK(cloudsight_engine_new(&config.base, &engine) == CLOUDSIGHT_RESULT_STRUCT_SIZE);
    CHECK(engine == NULL);
    config.future_field = 0;
    CHECK(cloudsight_engine_new(&config.base, &engine) == CLOUDSIGHT_RESULT_OK);
    if (engine == NULL) return;

    CHECK(cloudsight_engine_process_packet(engine, 228, UDP_FRAME, sizeof UDP_FRAME, 1000, NULL,
                                           NULL) == CLOUDSIGHT_RESULT_OK);
    CHECK(cloudsight_engine_flush(engine, 5000) == CLOUDSIGHT_RESULT_OK);
    struct newer_record records[2];
    memset(records, 0xab, sizeof records);
    size_t written = 0;
    CHECK(cloudsight_engine_drain(engine, &records[0].base, 2, sizeof records[0], &written) ==
          CLOUDSIGHT_RESULT_OK);
    CHECK(written == 1);
    CHECK(records[0].base.struct_size == sizeof(cloudsight_record));
    CHECK(records[0].base.bytes_up == sizeof UDP_FRAME);
    CHECK(records[0].future_a == 0 && records[0].future_b == 0);
    /* The second element was not written. */
    CHECK(records[1].base.struct_size == 0xabababab);
    cloudsight_engine_free(engine);
}

int main(void) {
    CHECK(cloudsight_version_number() / 1000 == CLOUDSIGHT_VERSION_NUMBER / 1000);
    layout_is_natural_under_pack_1();
    old_caller();
    newer_caller();
    if (failures != 0) {
        fprintf(stderr, "abi_compat: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("abi_compat: all %d checks passed\n", checks);
    return 0;
}
