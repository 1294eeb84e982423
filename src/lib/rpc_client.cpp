// Calls to init (rpc_client.hpp).
#include "rpc_client.hpp"

#include "lmp_transport.hpp"
#include "sync.hpp"
#include "thread.hpp"

#include <aos/ipc/rpc.hpp>
#include <aos/proto/messages.hpp>

#include <atomic>
#include <new>
#include <span>
#include <utility>

namespace aos::rpc {

namespace {

// Several threads may call at once: the client's lock serialises sending and routing.
using InitClient = ipc::Client<user::LmpTransport, thread::Mutex, user::LmpWait>;

struct Channel {
    user::LmpTransport transport{
        abi::caddr(abi::root_slot_task, abi::task_slot_init_endpoint),
        abi::caddr(abi::root_slot_task, abi::task_slot_arguments + 1),
        user::SlotAllocator::Slot{abi::root_slot_slot_alloc0, user::rpc_landing_slot},
        user::SlotAllocator::Slot{abi::root_slot_slot_alloc0, user::rpc_first_arrival_slot},
        user::rpc_arrival_slots};
    InitClient client{transport, user::LmpWait{&transport}};
};

alignas(Channel) unsigned char channel_storage[sizeof(Channel)];
std::atomic<Channel*> channel{nullptr};

// Made on the first call: a process that never calls init needs nothing. Only that first call locks.
constinit thread::Mutex channel_lock;

Result<InitClient*> init_client() {
    if (Channel* c = channel.load(std::memory_order_acquire))
        return &c->client;
    core::LockGuard guard(channel_lock);
    if (channel.load(std::memory_order_relaxed) == nullptr) {
        Result<sys::CapIdentity> ep =
            sys::cap_identify(abi::caddr(abi::root_slot_task, abi::task_slot_init_endpoint));
        if (!ep || ep->type != abi::ObjType::endpoint)
            return error(Errc::not_found);
        channel.store(::new (channel_storage) Channel(), std::memory_order_release);
    }
    return &channel.load(std::memory_order_relaxed)->client;
}

// One request to init and its reply. A reply with strings or blobs is decoded into a buffer (a span: its
// views point into it), which each caller keeps on its own stack: threads may call at once.
template <class Request, class... Buffer>
auto ask(const Request& request, Buffer... buffer)
    -> decltype(std::declval<InitClient&>().call(request, buffer...)) {
    InitClient* c = AOS_TRY(init_client());
    return c->call(request, buffer...);
}

constexpr std::size_t reply_bytes = 4096;

void copy_name(core::StringRef from, char* out, std::size_t size) {
    std::size_t n = from.size < size - 1 ? from.size : size - 1;
    for (std::size_t i = 0; i < n; ++i)
        out[i] = from.data[i];
    out[n] = '\0';
}

} // namespace

Result<void> send_number(std::uint64_t n) {
    AOS_TRY(ask(proto::SendNumber{n}));
    return ok();
}

Result<void> send_string(core::StringRef text) {
    AOS_TRY(ask(proto::SendString{text}));
    return ok();
}

Result<void> putchar(char ch) {
    AOS_TRY(ask(proto::Putchar{ch}));
    return ok();
}

Result<char> getchar() {
    proto::GetcharReply r = AOS_TRY(ask(proto::Getchar{}));
    return r.c;
}

Result<RamGrant> get_ram(std::uint64_t size, std::uint64_t alignment, abi::CNodeRef cnode,
                         std::uint32_t slot) {
    proto::RamReply r = AOS_TRY(ask(proto::RamRequest{size, alignment}));
    if (r.ram.ref == abi::no_capability)
        return error(Errc::malformed);
    // Moved out of its arrival slot, whether or not the copy works: the slot is the transport's.
    Result<void> copied = sys::cap_copy(r.ram.ref, cnode, slot);
    (void)sys::cap_delete(r.ram.ref);
    AOS_TRY(copied);
    return RamGrant{abi::caddr(cnode, slot), r.size};
}

Result<Pid> spawn(core::StringRef command_line) {
    proto::SpawnReply r = AOS_TRY(ask(proto::SpawnCmdline{command_line, 0}));
    return r.pid;
}

Result<Pid> spawn_default(core::StringRef name) {
    proto::SpawnReply r = AOS_TRY(ask(proto::SpawnDefault{name, 0}));
    return r.pid;
}

Result<Pid> handshake() {
    proto::HandshakeReply r = AOS_TRY(ask(
        proto::Handshake{ipc::Capability{abi::caddr(abi::root_slot_task, abi::task_slot_arguments + 1), 0}}));
    return r.pid;
}

Result<Pid> spawn_with_cap(core::StringRef command_line, abi::CapAddr cap) {
    proto::SpawnReply r = AOS_TRY(ask(proto::SpawnWithCaps{command_line, 0, ipc::Capability{cap, 0}}));
    return r.pid;
}

Result<std::size_t> process_list(ProcessEntry* out, std::size_t max) {
    alignas(8) std::byte buffer[reply_bytes];
    proto::ProcessListReply r = AOS_TRY(ask(proto::ProcessList{}, std::span<std::byte>(buffer)));
    std::size_t pos = 0;
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < r.count && n < max; ++i) {
        proto::ProcessInfo p = AOS_TRY(ipc::read_record<proto::ProcessInfo>(r.entries, pos));
        out[n].pid = p.pid;
        out[n].state = static_cast<std::uint8_t>(p.state);
        copy_name(p.name, out[n].name, sizeof(out[n].name));
        ++n;
    }
    return n;
}

Result<ProcessStatus> status(Pid pid) {
    alignas(8) std::byte buffer[reply_bytes];
    proto::StatusReply r = AOS_TRY(ask(proto::Status{pid}, std::span<std::byte>(buffer)));
    return ProcessStatus{static_cast<std::uint8_t>(r.state), r.exit_status, r.ram_bytes};
}

Result<Pid> pid_by_name(core::StringRef name) {
    proto::PidReply r = AOS_TRY(ask(proto::PidByName{name}));
    return r.pid;
}

Result<void> name_by_pid(Pid pid, char* out, std::size_t size) {
    if (size == 0)
        return error(Errc::invalid_argument);
    alignas(8) std::byte buffer[reply_bytes];
    proto::NameReply r = AOS_TRY(ask(proto::NameByPid{pid}, std::span<std::byte>(buffer)));
    copy_name(r.name, out, size);
    return ok();
}

Result<void> suspend(Pid pid) {
    AOS_TRY(ask(proto::Suspend{pid}));
    return ok();
}

Result<void> resume(Pid pid) {
    AOS_TRY(ask(proto::Resume{pid}));
    return ok();
}

Result<void> kill(Pid pid) {
    AOS_TRY(ask(proto::Kill{pid}));
    return ok();
}

Result<std::uint32_t> kill_all(core::StringRef name) {
    proto::KillAllReply r = AOS_TRY(ask(proto::KillAll{name}));
    return r.killed;
}

Result<std::int32_t> wait(Pid pid) {
    proto::WaitReply r = AOS_TRY(ask(proto::Wait{pid}));
    return r.exit_status;
}

} // namespace aos::rpc
