// The user runtime's system-call stubs (the ABI is include/aos/abi/syscall.hpp).
#pragma once

#include <aos/abi/args.hpp>
#include <aos/abi/bootinfo.hpp>
#include <aos/abi/syscall.hpp>
#include <aos/core/result.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::sys {

struct SyscallResult {
    std::uint64_t error; // 0 or an Errc value
    std::uint64_t value;
};

SyscallResult syscall(abi::Syscall number, std::uint64_t a0 = 0, std::uint64_t a1 = 0, std::uint64_t a2 = 0,
                      std::uint64_t a3 = 0, std::uint64_t a4 = 0, std::uint64_t a5 = 0);

Result<void> debug_print(const char* text, std::size_t length);
Result<void> yield();
// Blocks for at least `us` microseconds (the kernel wakes sleepers on its timer tick).
Result<void> sleep_us(std::uint64_t us);
// The virtual counter and its frequency, readable at EL0.
std::uint64_t counter();
std::uint64_t counter_frequency();
// Instructions retired so far (PMU event counter 0, which the kernel opens to EL0). QEMU counts them only
// with -icount; otherwise this stays 0.
std::uint64_t instructions();
[[noreturn]] void exit(int status);

// The bootinfo page, for init (the first program the kernel starts); null in every other program.
const abi::BootInfo* bootinfo();
// For a program that must run as init (init and the test inits): its bootinfo, with at least one RAM
// region; otherwise null, and "<program>: must run as init (first in run=)" is printed.
const abi::BootInfo* require_bootinfo(const char* program);
// The arguments page a parent mapped for a spawned process; null otherwise.
const abi::ArgsPage* arguments();
// The value of environment variable `name` from the arguments page, or null.
const char* getenv(const char* name);
// The arguments page's record of the capability its parent named `name` ("init", "ram", ...), or null.
const abi::CapRecord* capability_record(const char* name);

namespace detail {
void set_boot_argument(std::uint64_t value);
}

} // namespace aos::sys

extern "C" [[noreturn]] void aos_exit(int status);
