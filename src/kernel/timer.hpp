// The EL1 physical timer: the kernel's periodic tick (the scheduler's quantum).
#pragma once

#include <cstdint>

namespace kernel {

void timer_init(std::uint32_t intid);
std::uint32_t timer_intid();
// The counter's frequency as firmware programmed CNTFRQ_EL0; never assumed.
std::uint64_t timer_frequency();
std::uint64_t timer_counter();
// Starts a periodic tick every `period_us` microseconds; stops it with timer_stop.
void timer_start_periodic(std::uint64_t period_us);
void timer_stop();
// Called from the IRQ path when the timer's interrupt fires: rearms it and counts the tick.
void timer_handle_interrupt();
std::uint64_t timer_ticks();

} // namespace kernel
