// Instantiates the messaging library with kernel/init-style policies for AArch64, freestanding: a ring, the
// marshaller, a thread-safe RPC client and a server over a UMP ring pair.
#include <aos/core/lock.hpp>
#include <aos/ipc/marshal.hpp>
#include <aos/ipc/rpc.hpp>
#include <aos/ipc/spsc_ring.hpp>
#include <aos/ipc/transport.hpp>

#include <cstdint>

namespace {

using Ump = aos::ipc::RingTransport<aos::ipc::urpc_ring_capacity>;

struct Reply {
    std::uint64_t value = 0;
    aos::ipc::Str text;
    AOS_IPC_MESSAGE(33, value, text)
};
struct Ask {
    std::uint64_t value = 0;
    aos::ipc::Str text;
    aos::ipc::Capability cap;
    using Response = Reply;
    AOS_IPC_MESSAGE(3, value, text, cap)
};

struct AskHandler {
    aos::Result<std::optional<Reply>> operator()(const Ask& a, aos::ipc::ReplyToken<Ask>) {
        return std::optional<Reply>{Reply{a.value + 1, a.text}};
    }
};

} // namespace

// Exported so the instantiations are kept and linked. `rings` points at a URPC frame (two pages).
extern "C" bool aos_freestanding_ipc(void* urpc_frame, std::byte* buffer, std::size_t size, const char* text,
                                     std::size_t length) {
    using Ring = aos::ipc::SpscRing<aos::ipc::urpc_ring_capacity>;
    auto* up = Ring::create(urpc_frame);
    auto* down = Ring::create(static_cast<char*>(urpc_frame) + sizeof(Ring));
    Ump client_end(*up, *down);
    Ump server_end(*down, *up);
    aos::ipc::Server<Ump> server(server_end, {buffer, size / 2});
    AskHandler handler;
    if (!server.on<Ask>(handler))
        return false;
    aos::ipc::Client<Ump, aos::core::SpinLock> client(client_end);
    // Linked, never run: the call below waits for a server that would run on another core.
    auto sent = aos::ipc::encode(
        Ask{1, {text, length}, {}}, 0, 0,
        [&](const aos::ipc::Frame& f, const aos::ipc::Capability* c) { return client_end.send(f, c); });
    if (!sent || !server.poll())
        return false;
    auto r = client.call(Ask{2, {text, length}, {}}, {buffer + size / 2, size / 2});
    return r && r->value == 3 && up->check_invariants() && client.check_invariants();
}
