// Ending a run through semihosting or PSCI.
#include "power.hpp"

#include "console.hpp"

#include <aos/arch/aarch64/semihosting.hpp>

namespace kernel {

namespace psci = aos::arch::aarch64::psci;
namespace semihosting = aos::arch::aarch64::semihosting;

namespace {
constinit psci::Conduit psci_conduit = psci::Conduit::none;
constinit bool use_semihosting = false;

std::int64_t psci_call(std::uint64_t fn) {
    register std::uint64_t x0 __asm__("x0") = fn;
    if (psci_conduit == psci::Conduit::hvc)
        __asm__ volatile("hvc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
    else if (psci_conduit == psci::Conduit::smc)
        __asm__ volatile("smc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
    else
        return psci::not_supported;
    return static_cast<std::int64_t>(x0);
}

void semihosting_exit(ExitStatus status) {
    semihosting::ExitBlock block{semihosting::adp_stopped_application_exit,
                                 static_cast<std::uint64_t>(status)};
    register std::uint64_t w0 __asm__("x0") = semihosting::op_sys_exit;
    register semihosting::ExitBlock* x1 __asm__("x1") = &block;
    __asm__ volatile("hlt %[imm]" : "+r"(w0) : "r"(x1), [imm] "i"(semihosting::hlt_immediate) : "memory");
}
} // namespace

void power_configure(psci::Conduit conduit, bool semihosting_enabled) {
    psci_conduit = conduit;
    use_semihosting = semihosting_enabled;
}

void halt_core() {
    for (;;)
        __asm__ volatile("msr daifset, #0xf\n\twfi");
}

void shutdown(ExitStatus status) {
    print("aos: shutdown, status {}\n", static_cast<unsigned>(status));
    if (use_semihosting)
        semihosting_exit(status);
    std::int64_t r = psci_call(psci::fn_system_off);
    print("aos: could not power off (PSCI {}); halting\n", r);
    halt_core();
}

} // namespace kernel
