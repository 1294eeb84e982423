// Ending a run: semihosting SYS_EXIT carries the status to QEMU's exit code when the command line asks for
// it; otherwise PSCI SYSTEM_OFF powers the machine off.
#pragma once

#include <aos/arch/aarch64/psci.hpp>

#include <cstdint>

namespace kernel {

// The image's exit status as the harness and `tools/aos.sh run --headless` see it.
enum class ExitStatus : std::uint8_t {
    success = 0,
    test_failed = 1,
    panic = 2,
};

void power_configure(aos::arch::aarch64::psci::Conduit conduit, bool semihosting);
[[noreturn]] void shutdown(ExitStatus status);
// Stops this core for good, without touching any device.
[[noreturn]] void halt_core();

} // namespace kernel
