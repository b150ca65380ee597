/*
 * teardown.c: cloudsight_engine_free racing packet, drain and stats calls on other threads, as a
 * WFP or NetworkExtension callback arriving during a sensor's shutdown would.
 *
 * Four threads feed packets, drain and read stats in a loop; the main thread frees the engine
 * while they run. Every call must return OK (it got in before the free) or SHUT_DOWN (after),
 * never touch freed memory (AddressSanitizer and valgrind runs in .ci/c-sanitizers.sh check
 * that), and once a thread has seen SHUT_DOWN it must keep seeing it. Repeated 20 times (or
 * argv[1] times).
 *
 * Exit status 0 when every check passes.
 */
#include "cloudsight.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t UDP_FRAME[] = {
    0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1, 10, 0, 0,
    2, 0x13, 0x88, 0x17, 0x70, 0x00, 0x0c, 0x00, 0x00, 'd', 'a', 't', 'a',
};

enum { THREADS = 4 };

struct worker {
    cloudsight_engine *engine;
    atomic_int *started;
    int id;
    int bad_results;
    int calls_after_shutdown;
};

static void *work(void *arg) {
    struct worker *w = arg;
    uint8_t frame[sizeof UDP_FRAME];
    memcpy(frame, UDP_FRAME, sizeof frame);
    atomic_fetch_add(w->started, 1);
    int shut = 0;
    for (uint32_t i = 0; shut < 200; i++) {
        frame[21] = (uint8_t)(i + (uint32_t)w->id * 64); /* many flows */
        cloudsight_result r;
        switch (i % 3) {
        case 0: {
            cloudsight_verdict v = CLOUDSIGHT_VERDICT_BLOCK;
            r = cloudsight_engine_process_packet(w->engine, 228, frame, sizeof frame, 1000 + i, NULL, &v);
            if (v != CLOUDSIGHT_VERDICT_ALLOW) w->bad_results++;
            break;
        }
        case 1: {
            cloudsight_record records[4];
            size_t n = 0;
            r = cloudsight_engine_drain(w->engine, records, 4, sizeof records[0], &n);
            break;
        }
        default: {
            cloudsight_stats stats;
            memset(&stats, 0, sizeof stats);
            stats.struct_size = sizeof stats;
            r = cloudsight_engine_stats(w->engine, &stats);
            break;
        }
        }
        if (r == CLOUDSIGHT_RESULT_SHUT_DOWN) {
            shut++;
            w->calls_after_shutdown++;
        } else if (r != CLOUDSIGHT_RESULT_OK || shut > 0) {
            /* Anything else, or OK after SHUT_DOWN was seen, is wrong. */
            w->bad_results++;
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    int failures = 0;
    for (int round = 0; round < rounds; round++) {
        cloudsight_engine *engine = NULL;
        if (cloudsight_engine_new(NULL, &engine) != CLOUDSIGHT_RESULT_OK) {
            fprintf(stderr, "teardown: engine_new failed\n");
            return 1;
        }
        atomic_int started = 0;
        struct worker workers[THREADS];
        pthread_t ids[THREADS];
        for (int t = 0; t < THREADS; t++) {
            workers[t] = (struct worker){engine, &started, t, 0, 0};
            if (pthread_create(&ids[t], NULL, work, &workers[t]) != 0) return 1;
        }
        while (atomic_load(&started) < THREADS) {
        }
        cloudsight_engine_free(engine); /* while the workers are inside calls */
        for (int t = 0; t < THREADS; t++) {
            pthread_join(ids[t], NULL);
            if (workers[t].bad_results != 0 || workers[t].calls_after_shutdown == 0) {
                fprintf(stderr, "teardown: round %d thread %d: %d bad results, %d calls after free\n",
                        round, t, workers[t].bad_results, workers[t].calls_after_shutdown);
                failures++;
            }
        }
        cloudsight_engine_free(engine); /* a second free is a no-op */
    }
    if (failures != 0) {
        fprintf(stderr, "teardown: %d failures\n", failures);
        return 1;
    }
    printf("teardown: %d rounds x %d threads, free racing calls: all OK or SHUT_DOWN\n", rounds,
           THREADS);
    return 0;
}
