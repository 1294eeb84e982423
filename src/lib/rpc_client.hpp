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

#include <cstdint>

namespace aos::rpc {

Result<void> send_number(std::uint64_t n);
// Any length: init prints it as one string.
Result<void> send_string(core::StringRef text);
Result<void> putchar(char c);

struct RamGrant {
    abi::CapAddr cap; // where the RAM capability now is
    std::uint64_t size;
};
// RAM from init, accounted to this process and taken back when it ends; the capability is moved to slot
// `slot` of the CNode `cnode`.
Result<RamGrant> get_ram(std::uint64_t size, std::uint64_t alignment, abi::CNodeRef cnode,
                         std::uint32_t slot);

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
