// Interrupt dispatch: acknowledge at the GIC, run the device's handler, signal the end of the interrupt.
#include "irq.hpp"

#include "console.hpp"
#include "drivers/gic.hpp"
#include "timer.hpp"

#include <aos/arch/aarch64/gic.hpp>

namespace kernel {

namespace {
constinit std::uint64_t unexpected = 0;
}

void handle_irq() {
    std::uint32_t intid = gic_acknowledge();
    if (intid >= aos::arch::aarch64::gic::first_special_intid)
        return; // spurious or special: nothing to end
    if (intid == timer_intid()) {
        timer_handle_interrupt();
    } else if (intid == console_input_intid()) {
        console_handle_interrupt();
    } else {
        ++unexpected;
        print("aos: unexpected interrupt {}; disabled\n", intid);
        gic_disable(intid);
    }
    gic_end_of_interrupt(intid);
}

void wait_for_interrupt() {
    __asm__ volatile("wfi\n\tmsr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");
}

void irq_enable_local() {
    __asm__ volatile("msr daifclr, #2" ::: "memory");
}
void irq_disable_local() {
    __asm__ volatile("msr daifset, #2" ::: "memory");
}
std::uint64_t irq_unexpected_count() {
    return unexpected;
}

} // namespace kernel
