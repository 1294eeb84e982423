// Writes seed inputs for ipc_decoder_fuzz: valid encodings of protocol messages (one frame, many
// fragments, with a capability), so the fuzzer starts from deep inside the reassembler and the decoders
// instead of having to discover the header format. Usage: ipc_decoder_seeds OUTPUT_DIR
#include <aos/ipc/marshal.hpp>
#include <aos/proto/messages.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" void aos_hook_panic(const char* message, const char* file, int line) {
    std::fprintf(stderr, "panic: %s at %s:%d\n", message, file, line);
    std::abort();
}
extern "C" void aos_hook_log(const char*) {}

namespace {

// The fuzz input format: one byte choosing the receiver's buffer (x16 bytes), then frames.
template <class M>
bool write_seed(const std::string& dir, const char* name, const M& m) {
    std::vector<unsigned char> bytes{0xff};
    auto r = aos::ipc::encode(m, 7, 0, [&](const aos::ipc::Frame& f, const aos::ipc::Capability*) {
        auto* p = reinterpret_cast<const unsigned char*>(f.words.data());
        bytes.insert(bytes.end(), p, p + aos::ipc::frame_bytes);
        return aos::Result<void>(aos::ok());
    });
    if (!r)
        return false;
    std::FILE* out = std::fopen((dir + "/" + name).c_str(), "wb");
    if (out == nullptr)
        return false;
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), out) == bytes.size();
    return std::fclose(out) == 0 && ok;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 2;
    }
    namespace p = aos::proto;
    std::string dir = argv[1];
    std::string text(300, 'a');
    std::vector<std::byte> records(128);
    std::size_t pos = 0;
    bool ok = aos::ipc::write_record(
                  p::ProcessInfo{1, p::ProcessState::running, 0, aos::core::StringRef::from_c_str("init")},
                  records, pos)
                  .has_value();
    ok = ok && write_seed(dir, "send_number", p::SendNumber{42});
    ok = ok && write_seed(dir, "send_string", p::SendString{{text.data(), text.size()}});
    ok = ok && write_seed(dir, "ram_reply", p::RamReply{{0x1000, 0x2000}, 4096});
    ok = ok && write_seed(dir, "status_reply",
                          p::StatusReply{3, p::ProcessState::suspended, 1, 0, 1 << 20,
                                         aos::core::StringRef::from_c_str("memtest")});
    ok = ok && write_seed(dir, "process_list", p::ProcessListReply{1, {records.data(), pos}});
    ok = ok && write_seed(dir, "spawn_with_caps", p::SpawnWithCaps{{text.data(), 100}, 1, {0x3000, 0x1000}});
    return ok ? 0 : 1;
}
