// Calls to init (rpc_client.hpp).
#include "rpc_client.hpp"

#include "lmp_transport.hpp"
#include "sync.hpp"
#include "thread.hpp"

#include <aos/ipc/rpc.hpp>
#include <aos/proto/messages.hpp>

#include <new>

namespace aos::rpc {

namespace {

// Several threads may call at once: the client's lock serialises sending and routing.
using InitClient = ipc::Client<user::LmpTransport, thread::Mutex, user::LmpWait>;

constexpr std::uint32_t landing_slot = user::rpc_landing_slot;

struct Channel {
    user::LmpTransport transport{abi::caddr(abi::root_slot_task, abi::task_slot_init_endpoint),
                                 abi::caddr(abi::root_slot_task, abi::task_slot_arguments + 1),
                                 user::SlotAllocator::Slot{abi::root_slot_slot_alloc0, landing_slot}};
    InitClient client{transport, user::LmpWait{&transport}};
};

alignas(Channel) unsigned char channel_storage[sizeof(Channel)];
constinit Channel* channel = nullptr;

// Made on the first call: a process that never calls init needs nothing.
constinit thread::Mutex channel_lock;

Result<InitClient*> init_client() {
    core::LockGuard guard(channel_lock);
    if (channel == nullptr) {
        Result<sys::CapIdentity> ep =
            sys::cap_identify(abi::caddr(abi::root_slot_task, abi::task_slot_init_endpoint));
        if (!ep || ep->type != abi::ObjType::endpoint)
            return error(Errc::not_found);
        channel = ::new (channel_storage) Channel();
    }
    return &channel->client;
}

} // namespace

Result<void> send_number(std::uint64_t n) {
    InitClient* c = AOS_TRY(init_client());
    AOS_TRY(c->call(proto::SendNumber{n}));
    return ok();
}

Result<void> send_string(core::StringRef text) {
    InitClient* c = AOS_TRY(init_client());
    AOS_TRY(c->call(proto::SendString{text}));
    return ok();
}

Result<void> putchar(char ch) {
    InitClient* c = AOS_TRY(init_client());
    AOS_TRY(c->call(proto::Putchar{ch}));
    return ok();
}

Result<char> getchar() {
    InitClient* c = AOS_TRY(init_client());
    proto::GetcharReply r = AOS_TRY(c->call(proto::Getchar{}));
    return r.c;
}

Result<RamGrant> get_ram(std::uint64_t size, std::uint64_t alignment, abi::CNodeRef cnode,
                         std::uint32_t slot) {
    InitClient* c = AOS_TRY(init_client());
    proto::RamReply r = AOS_TRY(c->call(proto::RamRequest{size, alignment}));
    abi::CapAddr landed = abi::caddr(abi::root_slot_slot_alloc0, landing_slot);
    if (r.ram.ref != landed)
        return error(Errc::malformed);
    // Moved, whether or not the copy works: the landing slot must be free for the next reply.
    Result<void> copied = sys::cap_copy(landed, cnode, slot);
    (void)sys::cap_delete(landed);
    AOS_TRY(copied);
    return RamGrant{abi::caddr(cnode, slot), r.size};
}

namespace {
// Replies with strings or blobs are decoded into this buffer (their views point into it).
alignas(8) std::byte reply_buffer[4096];

void copy_name(core::StringRef from, char* out, std::size_t size) {
    std::size_t n = from.size < size - 1 ? from.size : size - 1;
    for (std::size_t i = 0; i < n; ++i)
        out[i] = from.data[i];
    out[n] = '\0';
}
} // namespace

Result<Pid> spawn(core::StringRef command_line) {
    InitClient* c = AOS_TRY(init_client());
    proto::SpawnReply r = AOS_TRY(c->call(proto::SpawnCmdline{command_line, 0}));
    return r.pid;
}

Result<Pid> spawn_default(core::StringRef name) {
    InitClient* c = AOS_TRY(init_client());
    proto::SpawnReply r = AOS_TRY(c->call(proto::SpawnDefault{name, 0}));
    return r.pid;
}

Result<Pid> handshake() {
    InitClient* c = AOS_TRY(init_client());
    proto::HandshakeReply r = AOS_TRY(c->call(
        proto::Handshake{ipc::Capability{abi::caddr(abi::root_slot_task, abi::task_slot_arguments + 1), 0}}));
    return r.pid;
}

Result<Pid> spawn_with_cap(core::StringRef command_line, abi::CapAddr cap) {
    InitClient* c = AOS_TRY(init_client());
    proto::SpawnReply r = AOS_TRY(c->call(proto::SpawnWithCaps{command_line, 0, ipc::Capability{cap, 0}}));
    return r.pid;
}

Result<std::size_t> process_list(ProcessEntry* out, std::size_t max) {
    InitClient* c = AOS_TRY(init_client());
    proto::ProcessListReply r = AOS_TRY(c->call(proto::ProcessList{}, std::span<std::byte>(reply_buffer)));
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
    InitClient* c = AOS_TRY(init_client());
    proto::StatusReply r = AOS_TRY(c->call(proto::Status{pid}, std::span<std::byte>(reply_buffer)));
    return ProcessStatus{static_cast<std::uint8_t>(r.state), r.exit_status, r.ram_bytes};
}

Result<Pid> pid_by_name(core::StringRef name) {
    InitClient* c = AOS_TRY(init_client());
    proto::PidReply r = AOS_TRY(c->call(proto::PidByName{name}));
    return r.pid;
}

Result<void> name_by_pid(Pid pid, char* out, std::size_t size) {
    if (size == 0)
        return error(Errc::invalid_argument);
    InitClient* c = AOS_TRY(init_client());
    proto::NameReply r = AOS_TRY(c->call(proto::NameByPid{pid}, std::span<std::byte>(reply_buffer)));
    copy_name(r.name, out, size);
    return ok();
}

Result<void> suspend(Pid pid) {
    InitClient* c = AOS_TRY(init_client());
    AOS_TRY(c->call(proto::Suspend{pid}));
    return ok();
}

Result<void> resume(Pid pid) {
    InitClient* c = AOS_TRY(init_client());
    AOS_TRY(c->call(proto::Resume{pid}));
    return ok();
}

Result<void> kill(Pid pid) {
    InitClient* c = AOS_TRY(init_client());
    AOS_TRY(c->call(proto::Kill{pid}));
    return ok();
}

Result<std::uint32_t> kill_all(core::StringRef name) {
    InitClient* c = AOS_TRY(init_client());
    proto::KillAllReply r = AOS_TRY(c->call(proto::KillAll{name}));
    return r.killed;
}

Result<std::int32_t> wait(Pid pid) {
    InitClient* c = AOS_TRY(init_client());
    proto::WaitReply r = AOS_TRY(c->call(proto::Wait{pid}));
    return r.exit_status;
}

} // namespace aos::rpc
