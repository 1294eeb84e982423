// The kernel's system-call interface, shared by the kernel and the user runtime: numbers, the register
// convention and the result encoding.
//
//   // user side (src/lib): x8 = number, x0..x5 = arguments, `svc #0`; x0 = Errc (0 = success), x1 = value
//   aos::Result<void> r = aos::sys::debug_print("hello\n", 6);
#pragma once

#include <aos/core/errc.hpp>

#include <cstdint>

namespace aos::abi {

// Append only: numbers are the ABI.
enum class Syscall : std::uint64_t {
    yield = 1,       // give up the rest of the quantum
    exit = 2,        // x0 = status; stops the calling dispatcher
    debug_print = 3, // x0 = user pointer, x1 = length (at most debug_print_max bytes)
    invoke = 4,      // capability invocations (the capability issue defines the operations)
    sleep = 5,       // x0 = microseconds: blocks the caller at least that long (to the next tick after)
};

// Registers: the number in x8 (as Linux does, so x0..x5 stay free for arguments); on return x0 holds 0 or an
// aos::Errc value and x1 a result value.
inline constexpr unsigned syscall_number_register = 8;
inline constexpr unsigned syscall_argument_count = 6;
inline constexpr std::uint64_t syscall_success = 0;
inline constexpr std::uint64_t debug_print_max = 1024;

constexpr std::uint64_t encode_error(Errc e) {
    return static_cast<std::uint64_t>(e);
}
static_assert(static_cast<std::uint64_t>(Errc::invalid_argument) != syscall_success, "0 means success");

} // namespace aos::abi
