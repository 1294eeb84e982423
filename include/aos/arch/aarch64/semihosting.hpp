// Arm semihosting (Arm IHI 0079) operations the kernel uses to end a QEMU run with an exit status.
// AArch64 traps to the debugger/emulator with `HLT #0xF000`, operation in w0, parameter in x1.
#pragma once

#include <cstdint>

namespace aos::arch::aarch64::semihosting {

inline constexpr std::uint32_t hlt_immediate = 0xf000;
inline constexpr std::uint64_t op_sys_exit = 0x18;
// SYS_EXIT reason: the application exited normally; the subcode carries the exit status.
inline constexpr std::uint64_t adp_stopped_application_exit = 0x20026;

// The two-word parameter block of SYS_EXIT on AArch64.
struct ExitBlock {
    std::uint64_t reason;
    std::uint64_t subcode;
};
static_assert(sizeof(ExitBlock) == 16);

} // namespace aos::arch::aarch64::semihosting
