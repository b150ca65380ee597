// discover.cpp: the C++17 twin of examples/c/discover.c (one thread).
//
// Reads a classic pcap file (both byte orders, microsecond and nanosecond magic), feeds every frame
// to a cloudsight engine, flushes at the end and prints the activity records as JSON lines. The
// engine handle lives in a std::unique_ptr with cloudsight_engine_free as deleter; a failing call
// throws cloudsight::error, which carries the cloudsight_result and its text. Records are drained
// with cloudsight_engine_drain_encoded into a std::vector<char> that grows on BUFFER_TOO_SMALL.
//
// Usage: discover_cpp FILE.pcap
// Exit codes: 0 success; 1 I/O error, truncated capture or library error; 2 not a classic pcap
// (pcapng included); 64 bad command line.
//
// Build (one line): c++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude
//   examples/cpp/discover.cpp target/debug/libcloudsight.a -lpthread -ldl -lm -o discover_cpp
// or with the installed library: c++ ... $(pkg-config --cflags --libs cloudsight)

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cloudsight.h"

namespace cloudsight {

// A failed library call: the result code and the library's text for it.
class error : public std::runtime_error {
public:
    error(const std::string &what, cloudsight_result code)
        : std::runtime_error(what + ": " + cloudsight_result_text(code) + " (" +
                             std::to_string(static_cast<unsigned>(code)) + ")"),
          code_(code) {}
    cloudsight_result code() const noexcept { return code_; }

private:
    cloudsight_result code_;
};

inline void check(cloudsight_result code, const char *what) {
    if (code != CLOUDSIGHT_RESULT_OK) throw error(what, code);
}

using engine_ptr = std::unique_ptr<cloudsight_engine, decltype(&cloudsight_engine_free)>;

inline engine_ptr make_engine(const char *device_id) {
    cloudsight_config config{};
    config.struct_size = sizeof config;
    check(cloudsight_config_default(&config), "cloudsight_config_default");
    config.device_id = device_id;
    cloudsight_engine *raw = nullptr;
    check(cloudsight_engine_new(&config, &raw), "cloudsight_engine_new");
    return engine_ptr(raw, &cloudsight_engine_free);
}

// Move every queued record into `out` as JSON lines, growing `buf` when one record does not fit.
inline void drain_json(cloudsight_engine *engine, std::vector<char> &buf, std::ostream &out) {
    for (;;) {
        size_t written = 0;
        cloudsight_result r = cloudsight_engine_drain_encoded(
            engine, CLOUDSIGHT_ENCODING_JSON_LINES, reinterpret_cast<uint8_t *>(buf.data()),
            buf.size(), &written);
        if (r == CLOUDSIGHT_RESULT_BUFFER_TOO_SMALL) {
            if (written <= buf.size()) throw error("drain_encoded size hint", r);
            buf.resize(written);
            continue;
        }
        check(r, "cloudsight_engine_drain_encoded");
        if (written == 0) return;
        out.write(buf.data(), static_cast<std::streamsize>(written));
    }
}

}  // namespace cloudsight

namespace {

constexpr int EXIT_IO = 1;
constexpr int EXIT_FORMAT = 2;
constexpr int EXIT_USAGE = 64;
// Larger than any snapshot length in use (262144); a bigger record means a corrupt file.
constexpr uint32_t MAX_FRAME = 256u * 1024u;

struct format_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct frame {
    const uint8_t *data;
    uint32_t len;
    uint64_t ts_ns;
};

struct capture {
    std::vector<uint8_t> bytes;
    uint32_t link_type = 0;
    std::vector<frame> frames;
    uint64_t last_ts_ns = 0;
};

uint32_t rd32(const uint8_t *p, bool swap) {
    uint32_t v = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    if (swap) v = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
    return v;
}

capture read_pcap(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    capture cap;
    cap.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("cannot read " + path);
    const uint8_t *p = cap.bytes.data();
    const size_t size = cap.bytes.size();
    if (size >= 4 && p[0] == 0x0a && p[1] == 0x0d && p[2] == 0x0d && p[3] == 0x0a) {
        throw format_error(path + " is a pcapng file; this example reads classic pcap only "
                                  "(convert it with `editcap -F pcap`)");
    }
    if (size < 24) throw format_error(path + ": not a pcap file (shorter than a pcap header)");
    bool swap = false, nanos = false;
    switch (rd32(p, false)) {
    case 0xa1b2c3d4u: break;
    case 0xa1b23c4du: nanos = true; break;
    case 0xd4c3b2a1u: swap = true; break;
    case 0x4d3cb2a1u: swap = true; nanos = true; break;
    default: throw format_error(path + ": not a pcap file (bad magic)");
    }
    // The low 16 bits are the LINKTYPE; DLT_RAW 12 (14 on OpenBSD) means LINKTYPE_RAW (101).
    cap.link_type = rd32(p + 20, swap) & 0xffffu;
    if (cap.link_type == 12 || cap.link_type == 14) cap.link_type = 101;
    size_t off = 24;
    while (off < size) {
        if (size - off < 16) {
            throw std::runtime_error(path + ": truncated record header at offset " +
                                     std::to_string(off));
        }
        const uint64_t sec = rd32(p + off, swap), frac = rd32(p + off + 4, swap);
        const uint32_t incl = rd32(p + off + 8, swap);
        if (incl > MAX_FRAME || size - off - 16 < incl) {
            throw std::runtime_error(path + ": truncated or corrupt record at offset " +
                                     std::to_string(off));
        }
        frame f{p + off + 16, incl, sec * 1000000000u + (nanos ? frac : frac * 1000u)};
        if (f.ts_ns > cap.last_ts_ns) cap.last_ts_ns = f.ts_ns;
        cap.frames.push_back(f);
        off += 16 + size_t(incl);
    }
    return cap;
}

int run(const std::string &path) {
    const capture cap = read_pcap(path);
    cloudsight::engine_ptr engine = cloudsight::make_engine("cpp-example");
    size_t unknown_link = 0;
    for (size_t i = 0; i < cap.frames.size(); i++) {
        const frame &f = cap.frames[i];
        cloudsight_verdict verdict = CLOUDSIGHT_VERDICT_ALLOW;
        cloudsight_result r = cloudsight_engine_process_packet(
            engine.get(), cap.link_type, f.data, f.len, f.ts_ns, nullptr, &verdict);
        if (r == CLOUDSIGHT_RESULT_UNKNOWN_LINK_TYPE) {
            unknown_link++;  // skipped and reported at the end, as the C and Rust examples do
            continue;
        }
        cloudsight::check(r, ("frame " + std::to_string(i + 1) + ": cloudsight_engine_process_packet").c_str());
    }
    if (unknown_link != 0) {
        std::cerr << "discover_cpp: skipped " << unknown_link << " frames of link type "
                  << cap.link_type << ": "
                  << cloudsight_result_text(CLOUDSIGHT_RESULT_UNKNOWN_LINK_TYPE) << '\n';
    }
    cloudsight::check(cloudsight_engine_flush(engine.get(), cap.last_ts_ns),
                      "cloudsight_engine_flush");
    std::vector<char> buf(256);  // small on purpose: it grows to the largest record
    cloudsight::drain_json(engine.get(), buf, std::cout);
    std::cout.flush();
    if (!std::cout) throw std::runtime_error("write error");
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        std::cerr << "usage: discover_cpp FILE.pcap\n";
        return EXIT_USAGE;
    }
    try {
        return run(argv[1]);
    } catch (const format_error &e) {
        std::cerr << "discover_cpp: " << e.what() << '\n';
        return EXIT_FORMAT;
    } catch (const cloudsight::error &e) {
        std::cerr << "discover_cpp: " << e.what() << '\n';
        return EXIT_IO;
    } catch (const std::exception &e) {
        std::cerr << "discover_cpp: " << e.what() << '\n';
        return EXIT_IO;
    }
}
