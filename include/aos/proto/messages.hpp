// The OS protocol between processes and init (and between the inits of two cores), declared once: each
// request names its response; the same declarations serve LMP, UMP and the hosted loopback.
//
//   auto pid = AOS_TRY(client.call(aos::proto::PidByName{aos::core::StringRef::from_c_str("shell")}));
//   auto name = AOS_TRY(client.call(aos::proto::NameByPid{pid.pid}, buffer));   // name.name views `buffer`
//
// Type ids: requests are below `request_id_limit` (they index the server's dispatch table), responses from
// `response_id_base` up. Ids are part of the ABI between programs: append, never renumber.
#pragma once

#include <aos/ipc/frame.hpp>
#include <aos/ipc/marshal.hpp>

#include <cstdint>
#include <tuple>
#include <type_traits>

namespace aos::proto {

using ipc::Bytes;
using ipc::Capability;
using ipc::Str;

using Pid = std::uint32_t;
using CoreId = std::uint32_t;

inline constexpr ipc::TypeId request_id_limit = 64;
inline constexpr ipc::TypeId response_id_base = 0x100;

enum class ProcessState : std::uint8_t { spawning, running, suspended, exited, count };

// ---- responses ----

// Success without data.
struct Ack {
    AOS_IPC_MESSAGE(response_id_base + 0)
};
struct HandshakeReply {
    Pid pid = 0; // the caller's own PID
    AOS_IPC_MESSAGE(response_id_base + 1, pid)
};
struct GetcharReply {
    char c = 0;
    AOS_IPC_MESSAGE(response_id_base + 2, c)
};
// The RAM capability and its size (at least the requested size, rounded up to the allocator's unit).
struct RamReply {
    Capability ram;
    std::uint64_t size = 0;
    AOS_IPC_MESSAGE(response_id_base + 3, ram, size)
};
struct SpawnReply {
    Pid pid = 0;
    AOS_IPC_MESSAGE(response_id_base + 4, pid)
};
// One entry of a process list, nested in ProcessListReply::entries (ipc::write_record/read_record).
struct ProcessInfo {
    Pid pid = 0;
    ProcessState state = ProcessState::spawning;
    CoreId core = 0;
    Str name;
    AOS_IPC_FIELDS(pid, state, core, name)
};
struct ProcessListReply {
    std::uint32_t count = 0; // ProcessInfo records in `entries`
    Bytes entries;
    AOS_IPC_MESSAGE(response_id_base + 5, count, entries)
};
struct StatusReply {
    Pid pid = 0;
    ProcessState state = ProcessState::spawning;
    CoreId core = 0;
    std::int32_t exit_status = 0; // valid when state == exited
    std::uint64_t ram_bytes = 0;  // RAM handed to the process and not yet returned
    Str name;
    AOS_IPC_MESSAGE(response_id_base + 6, pid, state, core, exit_status, ram_bytes, name)
};
struct NameReply {
    Str name;
    AOS_IPC_MESSAGE(response_id_base + 7, name)
};
struct PidReply {
    Pid pid = 0;
    AOS_IPC_MESSAGE(response_id_base + 8, pid)
};
struct WaitReply {
    std::int32_t exit_status = 0;
    AOS_IPC_MESSAGE(response_id_base + 9, exit_status)
};
struct KillAllReply {
    std::uint32_t killed = 0;
    AOS_IPC_MESSAGE(response_id_base + 10, killed)
};

// ---- requests ----

// A child's first call: hands init the child's own endpoint so init can reach it.
struct Handshake {
    Capability endpoint;
    using Response = HandshakeReply;
    AOS_IPC_MESSAGE(1, endpoint)
};
struct SendNumber {
    std::uint64_t number = 0;
    using Response = Ack;
    AOS_IPC_MESSAGE(2, number)
};
// Printed by init as one string, whatever its length.
struct SendString {
    Str text;
    using Response = Ack;
    AOS_IPC_MESSAGE(3, text)
};
// Blocks (a deferred reply) until a key arrives on the serial line.
struct Getchar {
    using Response = GetcharReply;
    AOS_IPC_MESSAGE(4)
};
struct Putchar {
    char c = 0;
    using Response = Ack;
    AOS_IPC_MESSAGE(5, c)
};
struct RamRequest {
    std::uint64_t size = 0;
    std::uint64_t alignment = 0;
    using Response = RamReply;
    AOS_IPC_MESSAGE(6, size, alignment)
};
// Spawns from a full command line (program name, then arguments) on `core`.
struct SpawnCmdline {
    Str cmdline;
    CoreId core = 0;
    using Response = SpawnReply;
    AOS_IPC_MESSAGE(7, cmdline, core)
};
// Spawns a program by name with the arguments from its boot-image entry.
struct SpawnDefault {
    Str name;
    CoreId core = 0;
    using Response = SpawnReply;
    AOS_IPC_MESSAGE(8, name, core)
};
// As SpawnCmdline, and `caps` (a CNode; one capability per message) becomes the child's argument CNode.
struct SpawnWithCaps {
    Str cmdline;
    CoreId core = 0;
    Capability caps;
    using Response = SpawnReply;
    AOS_IPC_MESSAGE(9, cmdline, core, caps)
};
struct ProcessList {
    using Response = ProcessListReply;
    AOS_IPC_MESSAGE(10)
};
struct Status {
    Pid pid = 0;
    using Response = StatusReply;
    AOS_IPC_MESSAGE(11, pid)
};
struct NameByPid {
    Pid pid = 0;
    using Response = NameReply;
    AOS_IPC_MESSAGE(12, pid)
};
struct PidByName {
    Str name;
    using Response = PidReply;
    AOS_IPC_MESSAGE(13, name)
};
struct Suspend {
    Pid pid = 0;
    using Response = Ack;
    AOS_IPC_MESSAGE(14, pid)
};
struct Resume {
    Pid pid = 0;
    using Response = Ack;
    AOS_IPC_MESSAGE(15, pid)
};
// Replied (deferred) when `pid` exits; several waiters per process.
struct Wait {
    Pid pid = 0;
    using Response = WaitReply;
    AOS_IPC_MESSAGE(16, pid)
};
// The caller ends with `status`; init reclaims its capabilities and memory.
struct Exit {
    std::int32_t status = 0;
    using Response = Ack;
    AOS_IPC_MESSAGE(17, status)
};
struct Kill {
    Pid pid = 0;
    using Response = Ack;
    AOS_IPC_MESSAGE(18, pid)
};
struct KillAll {
    Str name;
    using Response = KillAllReply;
    AOS_IPC_MESSAGE(19, name)
};
// Between the inits of two cores (UMP): no capability can cross, so a frame travels as its physical
// range and the receiving init forges a Frame capability for it. Used to set up a URPC channel (the pair
// of rings) and to pass any frame a cross-core request refers to.
struct PassFrame {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    CoreId from_core = 0;
    using Response = Ack;
    AOS_IPC_MESSAGE(20, base, size, from_core)
};

// Every request and every response, for tests and for checking ids.
using Requests = std::tuple<Handshake, SendNumber, SendString, Getchar, Putchar, RamRequest, SpawnCmdline,
                            SpawnDefault, SpawnWithCaps, ProcessList, Status, NameByPid, PidByName, Suspend,
                            Resume, Wait, Exit, Kill, KillAll, PassFrame>;
using Responses = std::tuple<Ack, HandshakeReply, GetcharReply, RamReply, SpawnReply, ProcessListReply,
                             StatusReply, NameReply, PidReply, WaitReply, KillAllReply>;

namespace detail {
template <class... M>
constexpr bool ids_unique(std::tuple<M...>*) {
    ipc::TypeId ids[] = {M::type_id...};
    for (std::size_t i = 0; i < sizeof...(M); ++i) {
        for (std::size_t j = i + 1; j < sizeof...(M); ++j) {
            if (ids[i] == ids[j])
                return false;
        }
    }
    return true;
}
template <class... M>
constexpr bool requests_ok(std::tuple<M...>*) {
    return ((ipc::Message<M> && ipc::Message<typename M::Response> && M::type_id < request_id_limit &&
             M::Response::type_id >= response_id_base && ipc::capability_count<M> <= 1) &&
            ...);
}
template <class... M>
constexpr bool responses_ok(std::tuple<M...>*) {
    return ((ipc::Message<M> && M::type_id >= response_id_base && ipc::capability_count<M> <= 1) && ...);
}
} // namespace detail

static_assert(detail::ids_unique(static_cast<Requests*>(nullptr)), "request type ids are unique");
static_assert(detail::ids_unique(static_cast<Responses*>(nullptr)), "response type ids are unique");
static_assert(detail::requests_ok(static_cast<Requests*>(nullptr)));
static_assert(detail::responses_ok(static_cast<Responses*>(nullptr)));
static_assert(ipc::Record<ProcessInfo> && ipc::capability_count<ProcessInfo> == 0);

} // namespace aos::proto
