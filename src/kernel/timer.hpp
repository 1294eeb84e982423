// The EL1 physical timer: the kernel's periodic tick (the scheduler's quantum).
#pragma once

#include <cstdint>

namespace kernel {

inline constexpr std::uint64_t us_per_ms = 1000;
inline constexpr std::uint64_t us_per_second = 1'000'000;
// The scheduler's quantum and the timer self test's period unless the command line says quantum_ms=N.
inline constexpr std::uint64_t default_quantum_ms = 10;

void timer_init(std::uint32_t intid);
std::uint32_t timer_intid();
// The counter's frequency as firmware programmed CNTFRQ_EL0; never assumed.
std::uint64_t timer_frequency();
std::uint64_t timer_counter();
// Counter ticks in `us` microseconds, saturating instead of wrapping.
std::uint64_t timer_ticks_for_us(std::uint64_t us);
// Starts a periodic tick every `period_us` microseconds; stops it with timer_stop.
void timer_start_periodic(std::uint64_t period_us);
void timer_stop();
// Called from the IRQ path when the timer's interrupt fires: rearms it and counts the tick.
void timer_handle_interrupt();
std::uint64_t timer_ticks();

} // namespace kernel
