/*
 * discover.c: the C twin of `cargo run --release -p cloudsight-cli -- --format jsonl FILE`.
 *
 * Reads a classic pcap file, feeds every frame to one cloudsight engine from 1 or 2 threads,
 * flushes at the end and prints the activity records: JSON lines by default (drained with
 * cloudsight_engine_drain_encoded into a small buffer that grows on demand), or with --structs one
 * summary line per record (drained with cloudsight_engine_drain into a fixed array).
 *
 * Usage: discover [--threads N] [--structs] FILE.pcap
 * Exit codes: 0 success; 1 I/O error, truncated capture or library error; 2 not a classic pcap
 * (pcapng included); 64 bad command line.
 *
 * Threads: a frame goes to thread hash(canonical IP address pair) % N, so every packet of a flow
 * (IP fragments included, which carry no ports) is handled by one thread, in capture order. DNS
 * packets (port 53) fill the engine's IP -> name cache that names later flows on any thread, so
 * they are ordering points: all threads meet at a barrier before and after one. With that, the
 * records are the same for any N (only flow ids, which count flows in creation order, differ).
 *
 * Build: cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude examples/c/discover.c \
 *           target/debug/libcloudsight.a -lpthread -ldl -lm -o discover
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudsight.h"

#define EXIT_IO 1
#define EXIT_FORMAT 2
#define EXIT_USAGE 64
#define MAX_THREADS 2
/* Larger than any snapshot length in use (262144); a bigger record means a corrupt file. */
#define MAX_FRAME (256u * 1024u)

struct frame {
    const uint8_t *data;
    uint32_t len;
    uint64_t ts_ns;
    uint32_t owner;   /* thread index */
    bool sync;        /* DNS: an ordering point for all threads */
};

struct capture {
    uint8_t *bytes;
    size_t size;
    uint32_t link_type;
    struct frame *frames;
    size_t count;
    uint64_t last_ts_ns;
};

struct worker {
    const struct capture *cap;
    cloudsight_engine *engine;
    pthread_barrier_t *barrier;
    uint32_t index;
    cloudsight_result result; /* first failure, or OK */
    size_t failed_frame;
    size_t unknown_link; /* frames skipped: CLOUDSIGHT_RESULT_UNKNOWN_LINK_TYPE */
};

static uint32_t rd32(const uint8_t *p, bool swap) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (swap) {
        v = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
    }
    return v;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Offset of the IP header in a frame and its version (4 or 6), or -1 when not IP. */
static long ip_offset(uint32_t link_type, const uint8_t *d, size_t len) {
    size_t off;
    uint16_t ethertype;
    switch (link_type) {
    case 1: /* Ethernet, with any number of 802.1Q / 802.1ad tags */
        if (len < 14) return -1;
        ethertype = be16(d + 12);
        off = 14;
        while (ethertype == 0x8100 || ethertype == 0x88a8 || ethertype == 0x9100) {
            if (len < off + 4) return -1;
            ethertype = be16(d + off + 2);
            off += 4;
        }
        return (ethertype == 0x0800 || ethertype == 0x86dd) ? (long)off : -1;
    case 101: case 228: case 229: /* raw IP */
        return 0;
    case 113: /* Linux SLL: protocol at 14, 16-byte header */
        if (len < 16) return -1;
        ethertype = be16(d + 14);
        return (ethertype == 0x0800 || ethertype == 0x86dd) ? 16 : -1;
    case 276: /* Linux SLL2: protocol at 0, 20-byte header */
        if (len < 20) return -1;
        ethertype = be16(d);
        return (ethertype == 0x0800 || ethertype == 0x86dd) ? 20 : -1;
    case 0: case 108: /* BSD null / OpenBSD loop: 4-byte family, then IP */
        return len >= 4 ? 4 : -1;
    default:
        return -1;
    }
}

/* Classify one frame: owner thread (hash of the canonical address pair) and whether it is DNS. */
static void classify(struct frame *f, uint32_t link_type, uint32_t threads) {
    const uint8_t *d = f->data;
    size_t len = f->len;
    f->owner = 0;
    f->sync = false;
    long off = ip_offset(link_type, d, len);
    if (off < 0 || (size_t)off >= len) return;
    const uint8_t *ip = d + off;
    size_t left = len - (size_t)off;
    const uint8_t *a, *b, *l4 = NULL;
    size_t alen;
    uint8_t proto;
    int version = ip[0] >> 4;
    if (version == 4) {
        size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
        if (left < 20 || ihl < 20) return;
        a = ip + 12; b = ip + 16; alen = 4; proto = ip[9];
        bool later_fragment = (be16(ip + 6) & 0x1fff) != 0;
        if (!later_fragment && left >= ihl + 4) l4 = ip + ihl;
    } else if (version == 6) {
        if (left < 40) return;
        a = ip + 8; b = ip + 24; alen = 16; proto = ip[6];
        size_t pos = 40;
        bool later_fragment = false;
        /* Hop-by-hop, routing, fragment and destination options headers. */
        while ((proto == 0 || proto == 43 || proto == 44 || proto == 60) && left >= pos + 8) {
            if (proto == 44) {
                later_fragment = (be16(ip + pos + 2) & 0xfff8) != 0;
                proto = ip[pos];
                pos += 8;
            } else {
                uint8_t next = ip[pos];
                pos += ((size_t)ip[pos + 1] + 1) * 8;
                proto = next;
            }
        }
        if (!later_fragment && left >= pos + 4) l4 = ip + pos;
    } else {
        return;
    }
    const uint8_t *lo = a, *hi = b;
    if (memcmp(a, b, alen) > 0) { lo = b; hi = a; }
    uint64_t h = 14695981039346656037ull;
    h = fnv1a(h, lo, alen);
    h = fnv1a(h, hi, alen);
    f->owner = (uint32_t)(h % threads);
    if (l4 != NULL && (proto == 6 || proto == 17)) {
        uint16_t sport = be16(l4), dport = be16(l4 + 2);
        f->sync = sport == 53 || dport == 53;
    }
}

static int read_file(const char *path, uint8_t **bytes, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "discover: cannot open %s: %s\n", path, strerror(errno));
        return EXIT_IO;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) { fclose(f); fprintf(stderr, "discover: out of memory\n"); return EXIT_IO; }
    for (;;) {
        if (n == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf); fclose(f);
                fprintf(stderr, "discover: out of memory\n");
                return EXIT_IO;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        fprintf(stderr, "discover: cannot read %s\n", path);
        return EXIT_IO;
    }
    *bytes = buf;
    *size = n;
    return 0;
}

/* Parse a classic pcap (both byte orders, microsecond and nanosecond magic). */
static int parse_pcap(const char *path, struct capture *cap, uint32_t threads) {
    const uint8_t *p = cap->bytes;
    if (cap->size >= 4 && p[0] == 0x0a && p[1] == 0x0d && p[2] == 0x0d && p[3] == 0x0a) {
        fprintf(stderr, "discover: %s is a pcapng file; this example reads classic pcap only "
                        "(convert it with `editcap -F pcap`)\n", path);
        return EXIT_FORMAT;
    }
    if (cap->size < 24) {
        fprintf(stderr, "discover: %s: not a pcap file (shorter than a pcap header)\n", path);
        return EXIT_FORMAT;
    }
    bool swap, nanos;
    uint32_t magic = rd32(p, false);
    switch (magic) {
    case 0xa1b2c3d4u: swap = false; nanos = false; break;
    case 0xa1b23c4du: swap = false; nanos = true; break;
    case 0xd4c3b2a1u: swap = true; nanos = false; break;
    case 0x4d3cb2a1u: swap = true; nanos = true; break;
    default:
        fprintf(stderr, "discover: %s: not a pcap file (magic 0x%08" PRIx32 ")\n", path, magic);
        return EXIT_FORMAT;
    }
    /* The low 16 bits are the LINKTYPE; the high bits may carry FCS information. DLT_RAW is 12
     * (14 on OpenBSD) in some writers' files; LINKTYPE_RAW (101) is what they mean. */
    cap->link_type = rd32(p + 20, swap) & 0xffffu;
    if (cap->link_type == 12 || cap->link_type == 14) cap->link_type = 101;
    size_t frames_cap = 1024;
    cap->frames = malloc(frames_cap * sizeof *cap->frames);
    if (cap->frames == NULL) { fprintf(stderr, "discover: out of memory\n"); return EXIT_IO; }
    size_t off = 24;
    while (off < cap->size) {
        if (cap->size - off < 16) {
            fprintf(stderr, "discover: %s: truncated record header at offset %zu\n", path, off);
            return EXIT_IO;
        }
        uint64_t sec = rd32(p + off, swap), frac = rd32(p + off + 4, swap);
        uint32_t incl = rd32(p + off + 8, swap);
        if (incl > MAX_FRAME) {
            fprintf(stderr, "discover: %s: record at offset %zu claims %" PRIu32 " bytes\n",
                    path, off, incl);
            return EXIT_IO;
        }
        if (cap->size - off - 16 < incl) {
            fprintf(stderr, "discover: %s: truncated record at offset %zu\n", path, off);
            return EXIT_IO;
        }
        if (cap->count == frames_cap) {
            struct frame *bigger = realloc(cap->frames, 2 * frames_cap * sizeof *bigger);
            if (bigger == NULL) { fprintf(stderr, "discover: out of memory\n"); return EXIT_IO; }
            cap->frames = bigger;
            frames_cap *= 2;
        }
        struct frame *f = &cap->frames[cap->count++];
        f->data = p + off + 16;
        f->len = incl;
        f->ts_ns = sec * 1000000000u + (nanos ? frac : frac * 1000u);
        classify(f, cap->link_type, threads);
        if (f->ts_ns > cap->last_ts_ns) cap->last_ts_ns = f->ts_ns;
        off += 16 + (size_t)incl;
    }
    return 0;
}

static void *run_worker(void *arg) {
    struct worker *w = arg;
    const struct capture *cap = w->cap;
    for (size_t i = 0; i < cap->count; i++) {
        const struct frame *f = &cap->frames[i];
        if (f->sync) pthread_barrier_wait(w->barrier);
        if (f->owner == w->index && w->result == CLOUDSIGHT_RESULT_OK) {
            cloudsight_verdict verdict = CLOUDSIGHT_VERDICT_ALLOW;
            cloudsight_result r = cloudsight_engine_process_packet(
                w->engine, cap->link_type, f->data, f->len, f->ts_ns, NULL, &verdict);
            if (r == CLOUDSIGHT_RESULT_UNKNOWN_LINK_TYPE) {
                /* Skipped and reported at the end, as the Rust example does. */
                w->unknown_link++;
            } else if (r != CLOUDSIGHT_RESULT_OK) {
                w->result = r;
                w->failed_frame = i + 1;
            }
        }
        if (f->sync) pthread_barrier_wait(w->barrier);
    }
    return NULL;
}

static void print_endpoint(const cloudsight_ip *ip, uint16_t port) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (ip->family == CLOUDSIGHT_IP_FAMILY_V4) {
        inet_ntop(AF_INET, ip->addr, text, sizeof text);
        printf("%s:%u", text, (unsigned)port);
    } else if (ip->family == CLOUDSIGHT_IP_FAMILY_V6) {
        inet_ntop(AF_INET6, ip->addr, text, sizeof text);
        printf("[%s]:%u", text, (unsigned)port);
    } else {
        printf("?:%u", (unsigned)port);
    }
}

static int fail(const char *what, cloudsight_result r) {
    fprintf(stderr, "discover: %s failed: %s (%u)\n", what, cloudsight_result_text(r), (unsigned)r);
    return EXIT_IO;
}

/* Drain JSON lines through a small buffer that grows when one record does not fit. */
static int drain_json(cloudsight_engine *engine) {
    size_t cap = 4096;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) { fprintf(stderr, "discover: out of memory\n"); return EXIT_IO; }
    for (;;) {
        size_t written = 0;
        cloudsight_result r = cloudsight_engine_drain_encoded(
            engine, CLOUDSIGHT_ENCODING_JSON_LINES, buf, cap, &written);
        if (r == CLOUDSIGHT_RESULT_BUFFER_TOO_SMALL) {
            if (written <= cap) { free(buf); return fail("drain_encoded (size hint)", r); }
            uint8_t *bigger = realloc(buf, written);
            if (bigger == NULL) { free(buf); fprintf(stderr, "discover: out of memory\n"); return EXIT_IO; }
            buf = bigger;
            cap = written;
            continue;
        }
        if (r != CLOUDSIGHT_RESULT_OK) { free(buf); return fail("cloudsight_engine_drain_encoded", r); }
        if (written == 0) break;
        if (fwrite(buf, 1, written, stdout) != written) {
            free(buf);
            fprintf(stderr, "discover: write error\n");
            return EXIT_IO;
        }
    }
    free(buf);
    return 0;
}

/* Drain into a fixed array of records and print one summary line each. */
static int drain_structs(cloudsight_engine *engine) {
    enum { BATCH = 8 };
    cloudsight_record *records = calloc(BATCH, sizeof *records);
    if (records == NULL) { fprintf(stderr, "discover: out of memory\n"); return EXIT_IO; }
    for (;;) {
        size_t n = 0;
        cloudsight_result r = cloudsight_engine_drain(engine, records, BATCH, sizeof *records, &n);
        if (r != CLOUDSIGHT_RESULT_OK) { free(records); return fail("cloudsight_engine_drain", r); }
        if (n == 0) break;
        for (size_t i = 0; i < n; i++) {
            const cloudsight_record *rec = &records[i];
            printf("flow %" PRIu64 " %s ", rec->flow_id, rec->protocol == CLOUDSIGHT_PROTOCOL_TCP ? "tcp" : "udp");
            print_endpoint(&rec->client_ip, rec->client_port);
            printf(" -> ");
            print_endpoint(&rec->server_ip, rec->server_port);
            printf(" up %" PRIu64 " down %" PRIu64 " name %s app %s\n", rec->bytes_up,
                   rec->bytes_down, rec->server_name[0] ? rec->server_name : "-",
                   rec->has_app ? rec->app_id : "-");
        }
    }
    free(records);
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: discover [--threads 1|2] [--structs] FILE.pcap\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv) {
    uint32_t threads = 1;
    bool structs = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "1") == 0) threads = 1;
            else if (strcmp(v, "2") == 0) threads = 2;
            else return usage();
        } else if (strcmp(argv[i], "--structs") == 0) {
            structs = true;
        } else if (argv[i][0] == '-' || path != NULL) {
            return usage();
        } else {
            path = argv[i];
        }
    }
    if (path == NULL) return usage();

    struct capture cap;
    memset(&cap, 0, sizeof cap);
    int status = read_file(path, &cap.bytes, &cap.size);
    if (status != 0) return status;
    status = parse_pcap(path, &cap, threads);
    if (status != 0) {
        free(cap.frames);
        free(cap.bytes);
        return status;
    }

    cloudsight_config config = {0};
    config.struct_size = sizeof config;
    cloudsight_engine *engine = NULL;
    cloudsight_result r = cloudsight_config_default(&config);
    if (r != CLOUDSIGHT_RESULT_OK) { status = fail("cloudsight_config_default", r); goto out; }
    config.device_id = "c-example";
    r = cloudsight_engine_new(&config, &engine);
    if (r != CLOUDSIGHT_RESULT_OK) { status = fail("cloudsight_engine_new", r); goto out; }

    pthread_barrier_t barrier;
    if (pthread_barrier_init(&barrier, NULL, threads) != 0) {
        fprintf(stderr, "discover: pthread_barrier_init failed\n");
        status = EXIT_IO;
        goto out;
    }
    struct worker workers[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    for (uint32_t t = 0; t < threads; t++) {
        workers[t] = (struct worker){&cap, engine, &barrier, t, CLOUDSIGHT_RESULT_OK, 0, 0};
    }
    for (uint32_t t = 0; t < threads; t++) {
        if (pthread_create(&ids[t], NULL, run_worker, &workers[t]) != 0) {
            /* The threads already started would wait at a barrier forever: give up. */
            fprintf(stderr, "discover: pthread_create failed\n");
            exit(EXIT_IO);
        }
    }
    for (uint32_t t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    pthread_barrier_destroy(&barrier);
    size_t unknown_link = 0;
    for (uint32_t t = 0; t < threads; t++) unknown_link += workers[t].unknown_link;
    if (unknown_link != 0) {
        fprintf(stderr, "discover: skipped %zu frames of link type %" PRIu32 ": %s\n", unknown_link,
                cap.link_type, cloudsight_result_text(CLOUDSIGHT_RESULT_UNKNOWN_LINK_TYPE));
    }
    for (uint32_t t = 0; t < threads; t++) {
        if (workers[t].result != CLOUDSIGHT_RESULT_OK) {
            fprintf(stderr, "discover: frame %zu: ", workers[t].failed_frame);
            status = fail("cloudsight_engine_process_packet", workers[t].result);
            goto out;
        }
    }

    /* No tick during the run, one flush at the end: the same as the Rust example's jsonl mode. */
    r = cloudsight_engine_flush(engine, cap.last_ts_ns);
    if (r != CLOUDSIGHT_RESULT_OK) { status = fail("cloudsight_engine_flush", r); goto out; }
    status = structs ? drain_structs(engine) : drain_json(engine);
    if (status == 0 && fflush(stdout) != 0) {
        fprintf(stderr, "discover: write error\n");
        status = EXIT_IO;
    }

out:
    cloudsight_engine_free(engine);
    free(cap.frames);
    free(cap.bytes);
    return status;
}
