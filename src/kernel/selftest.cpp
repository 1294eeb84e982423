// Boot-time self tests chosen with `selftest=NAME` on the kernel command line.
#include "selftest.hpp"

#include "console.hpp"
#include "drivers/gic.hpp"
#include "irq.hpp"
#include "mmu_selftest.hpp"
#include "panic.hpp"
#include "timer.hpp"

#include <aos/core/hooks.hpp>

namespace kernel {

namespace {

// An address outside the TTBR0 range, with TTBR1 walks disabled: a level-0 translation fault (with the MMU
// off it would be an address-size fault). Either way a data abort.
constexpr std::uintptr_t unbacked_address = 0xfff0'0000'0000'0000;

// Each fault test ends the run through the exception report; returning from it is itself a failure (and no
// __builtin_unreachable here: the optimizer would delete the faulting access along with the path to it).
[[gnu::noinline]] void undefined_instruction() {
    __asm__ volatile("udf #0" ::: "memory");
}

[[gnu::noinline]] void data_abort() {
    volatile std::uint64_t* p = reinterpret_cast<volatile std::uint64_t*>(unbacked_address);
    (void)*p;
}

[[gnu::noinline]] void deliberate_kernel_panic() {
    KERNEL_PANIC("selftest: deliberate panic");
}

void library_assertion() {
    AOS_ASSERT(unbacked_address == 0);
}

constexpr std::uint64_t timer_test_ticks = 10;

// Runs the periodic tick for a few quanta with interrupts on and checks that every tick came, none early.
ExitStatus timer_ticks_arrive(const aos::boot::CommandLine& cmdline) {
    std::uint64_t quantum_ms = cmdline.number("quantum_ms").value_or(default_quantum_ms);
    std::uint64_t first = timer_ticks();
    std::uint64_t start = timer_counter();
    irq_disable_local();
    timer_start_periodic(quantum_ms * us_per_ms);
    while (timer_ticks() - first < timer_test_ticks)
        wait_for_interrupt();
    timer_stop();
    std::uint64_t elapsed_us = (timer_counter() - start) * us_per_ms * us_per_ms / timer_frequency();
    print("timer: {} ticks of {} ms in {} us on GICv{}\n", timer_ticks() - first, quantum_ms, elapsed_us,
          static_cast<unsigned>(gic_version()));
    if (elapsed_us < timer_test_ticks * quantum_ms * us_per_ms) {
        print("timer: ticks came early\n");
        return ExitStatus::test_failed;
    }
    if (irq_unexpected_count() != 0) {
        print("timer: unexpected interrupts\n");
        return ExitStatus::test_failed;
    }
    return ExitStatus::success;
}

constexpr std::size_t echo_line_max = 80;

// Reads one line from the console through the receive interrupt (sleeping in wfi between characters) and
// prints it back.
ExitStatus echo_line() {
    char line[echo_line_max + 1];
    std::size_t n = 0;
    irq_disable_local();
    while (n < echo_line_max) {
        int c = console_try_getchar();
        if (c < 0) {
            wait_for_interrupt();
            continue;
        }
        if (c == '\n' || c == '\r')
            break;
        line[n++] = static_cast<char>(c);
    }
    line[n] = '\0';
    print("echo: {} ({} characters, {} dropped)\n", static_cast<const char*>(line), n,
          console_input_dropped());
    return ExitStatus::success;
}

} // namespace

ExitStatus run_selftest(aos::boot::StringRef name, const aos::boot::CommandLine& cmdline) {
    print("selftest: {}\n", name);
    if (name.equals("undefined") || name.equals("data-abort") || name.equals("assert") ||
        name.equals("panic")) {
        if (name.equals("panic"))
            deliberate_kernel_panic();
        else if (name.equals("undefined"))
            undefined_instruction();
        else if (name.equals("data-abort"))
            data_abort();
        else
            library_assertion();
        print("selftest: the expected fault did not happen\n");
        return ExitStatus::test_failed;
    }
    if (ExitStatus status; run_mmu_selftest(name, status))
        return status;
    if (name.equals("echo"))
        return echo_line();
    if (name.equals("timer"))
        return timer_ticks_arrive(cmdline);
    if (name.equals("pass")) {
        print("selftest: pass\n");
        return ExitStatus::success;
    }
    print(
        "selftest: unknown test; known: undefined, data-abort, assert, panic, echo, timer, pass, mmu-alias, "
        "mmu-readonly, mmu-nx, mmu-user-code, mmu-wx, mmu-unmap, mmu-reclaim\n");
    return ExitStatus::test_failed;
}

} // namespace kernel
