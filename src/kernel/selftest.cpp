// Boot-time self tests chosen with `selftest=NAME` on the kernel command line.
#include "selftest.hpp"

#include "console.hpp"
#include "mmu_selftest.hpp"

#include <aos/core/hooks.hpp>

namespace kernel {

namespace {

// An address outside the TTBR0 range, with TTBR1 walks disabled: a level-0 translation fault (with the MMU
// off it would be an address-size fault). Either way a data abort.
constexpr std::uintptr_t unbacked_address = 0xfff0'0000'0000'0000;

// Each fault test ends the run through the exception report; returning from it is itself a failure (and no
// __builtin_unreachable here: the optimizer would delete the faulting access along with the path to it).
void undefined_instruction() {
    __asm__ volatile("udf #0" ::: "memory");
}

void data_abort() {
    volatile std::uint64_t* p = reinterpret_cast<volatile std::uint64_t*>(unbacked_address);
    (void)*p;
}

void library_assertion() {
    AOS_ASSERT(unbacked_address == 0);
}

} // namespace

ExitStatus run_selftest(aos::boot::StringRef name) {
    print("selftest: {}\n", name);
    if (name.equals("undefined") || name.equals("data-abort") || name.equals("assert")) {
        if (name.equals("undefined"))
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
    if (name.equals("pass")) {
        print("selftest: pass\n");
        return ExitStatus::success;
    }
    print("selftest: unknown test; known: undefined, data-abort, assert, pass, mmu-alias, "
          "mmu-readonly, mmu-nx, mmu-wx, mmu-unmap, mmu-reclaim\n");
    return ExitStatus::test_failed;
}

} // namespace kernel
