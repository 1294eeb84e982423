// The calls a process makes to init over LMP, one function per service, on the library's ipc::Client and
// the messages of aos::proto. The channel is the pair of endpoints init leaves in the task CNode at spawn
// (abi::task_slot_init_endpoint, then the process's own); a capability init sends lands in the last slot of
// the process's slot CNode until the call moves it.
//
//   AOS_TRY(aos::rpc::send_string("hello, init"));
//   aos::rpc::RamGrant g = AOS_TRY(aos::rpc::get_ram(64 * 1024, 4096, aos::abi::root_slot_slot_alloc0, 10));
#pragma once

#include <aos/abi/capability.hpp>
#include <aos/core/result.hpp>
#include <aos/core/string_ref.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::rpc {

Result<void> send_number(std::uint64_t n);
// Any length: init prints it as one string.
Result<void> send_string(core::StringRef text);
Result<void> putchar(char c);
// Blocks (without spinning) until a character is typed on the console.
Result<char> getchar();

struct RamGrant {
    abi::CapAddr cap; // where the RAM capability now is
    std::uint64_t size;
};
// RAM from init, accounted to this process and taken back when it ends; the capability is moved to slot
// `slot` of the CNode `cnode`.
Result<RamGrant> get_ram(std::uint64_t size, std::uint64_t alignment, abi::CNodeRef cnode,
                         std::uint32_t slot);

// Process management (PIDs carry the core in their high bits).
using Pid = std::uint32_t;
Result<Pid> spawn(core::StringRef command_line);
// By program name alone, with its default arguments (none but the name).
Result<Pid> spawn_default(core::StringRef name);
// Who am I: sends init this process's endpoint; init answers with the caller's PID.
Result<Pid> handshake();
// As spawn, and the child gets a copy of `cap` at abi::task_slot_arguments + 2 (it needs the grant right).
Result<Pid> spawn_with_cap(core::StringRef command_line, abi::CapAddr cap);
// Up to `max` processes into `out` (names are copied into `names`, 32 bytes each); returns how many.
struct ProcessEntry {
    Pid pid;
    std::uint8_t state; // aos::proto::ProcessState
    char name[32];
};
Result<std::size_t> process_list(ProcessEntry* out, std::size_t max);
struct ProcessStatus {
    std::uint8_t state; // aos::proto::ProcessState
    std::int32_t exit_status;
    std::uint64_t ram_bytes;
};
Result<ProcessStatus> status(Pid pid);
Result<Pid> pid_by_name(core::StringRef name);
// The name, copied into `out` (NUL-terminated, cut to fit).
Result<void> name_by_pid(Pid pid, char* out, std::size_t size);
Result<void> suspend(Pid pid);
Result<void> resume(Pid pid);
Result<void> kill(Pid pid);
Result<std::uint32_t> kill_all(core::StringRef name);
// Blocks until `pid` ends; its exit status (-1 when it was stopped).
Result<std::int32_t> wait(Pid pid);

} // namespace aos::rpc

// The classic names, for code ported from the course.
inline aos::Result<void> aos_rpc_send_number(std::uint64_t n) {
    return aos::rpc::send_number(n);
}
inline aos::Result<void> aos_rpc_send_string(const char* s) {
    return aos::rpc::send_string(aos::core::StringRef::from_c_str(s));
}
inline aos::Result<void> aos_rpc_serial_putchar(char c) {
    return aos::rpc::putchar(c);
}
inline aos::Result<char> aos_rpc_serial_getchar() {
    return aos::rpc::getchar();
}
