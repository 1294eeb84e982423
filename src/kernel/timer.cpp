// The EL1 physical timer: the kernel's periodic tick.
#include "timer.hpp"

#include "arch/aarch64/sysreg.hpp"

#include <aos/arch/aarch64/generic_timer.hpp>

namespace kernel {

namespace gt = aos::arch::aarch64::generic_timer;

namespace {
constinit std::uint32_t intid = 0;
constinit std::uint64_t period_ticks = 0;
constinit std::uint64_t next_deadline = 0;
constinit volatile std::uint64_t ticks = 0;
} // namespace

void timer_init(std::uint32_t timer_intid_) {
    intid = timer_intid_;
    timer_stop();
}

std::uint32_t timer_intid() {
    return intid;
}
std::uint64_t timer_frequency() {
    return KERNEL_READ_SYSREG(cntfrq_el0);
}

std::uint64_t timer_counter() {
    __asm__ volatile("isb" ::: "memory"); // the counter read must not be hoisted above earlier code
    return KERNEL_READ_SYSREG(cntpct_el0);
}

std::uint64_t timer_ticks_for_us(std::uint64_t us) {
    std::uint64_t freq = timer_frequency();
    if (us > ~std::uint64_t{0} / freq)
        return ~std::uint64_t{0};
    return us * freq / us_per_second;
}

void timer_start_periodic(std::uint64_t period_us) {
    period_ticks = timer_ticks_for_us(period_us);
    if (period_ticks == 0)
        period_ticks = 1;
    // Deadlines advance by whole periods from the start, so a late interrupt does not stretch the next one.
    next_deadline = timer_counter() + period_ticks;
    KERNEL_WRITE_SYSREG(cntp_cval_el0, next_deadline);
    KERNEL_WRITE_SYSREG(cntp_ctl_el0, gt::CtlEnable::set(0, true));
    __asm__ volatile("isb");
}

void timer_stop() {
    KERNEL_WRITE_SYSREG(cntp_ctl_el0, gt::CtlImask::set(0, true));
    __asm__ volatile("isb");
}

void timer_handle_interrupt() {
    ticks = ticks + 1;
    std::uint64_t now = timer_counter();
    do
        next_deadline += period_ticks;
    while (next_deadline <= now);
    KERNEL_WRITE_SYSREG(cntp_cval_el0, next_deadline);
    __asm__ volatile("isb");
}

std::uint64_t timer_ticks() {
    return ticks;
}

} // namespace kernel
