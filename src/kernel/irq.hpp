// Interrupt dispatch: acknowledge at the GIC, run the device's handler, signal the end of the interrupt.
#pragma once

#include <cstdint>

namespace kernel {

void handle_irq();
void irq_enable_local();
void irq_disable_local();
std::uint64_t irq_unexpected_count();

} // namespace kernel
