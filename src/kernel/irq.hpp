// Interrupt dispatch: acknowledge at the GIC, run the device's handler, signal the end of the interrupt.
#pragma once

#include <cstdint>

namespace kernel {

void handle_irq();
void irq_enable_local();
// Sleeps until an interrupt is pending and lets it run. Call with interrupts masked, after checking the
// condition being waited for: an interrupt arriving between the check and the sleep still wakes us.
void wait_for_interrupt();
void irq_disable_local();
std::uint64_t irq_unexpected_count();

} // namespace kernel
