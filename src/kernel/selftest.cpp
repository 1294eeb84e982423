// Boot-time self tests chosen with `selftest=NAME` on the kernel command line.
#include "selftest.hpp"

#include "console.hpp"

#include <aos/core/hooks.hpp>

namespace kernel {

namespace {

// An address above any implemented physical address: with the MMU off this is an address-size fault, with
// it on a translation fault. Either way a data abort.
constexpr std::uintptr_t unbacked_address = 0xfff0'0000'0000'0000;

[[noreturn]] void undefined_instruction() {
    __asm__ volatile("udf #0");
    __builtin_unreachable();
}

[[noreturn]] void data_abort() {
    volatile std::uint64_t* p = reinterpret_cast<volatile std::uint64_t*>(unbacked_address);
    (void)*p;
    __builtin_unreachable();
}

[[noreturn]] void library_assertion() {
    AOS_ASSERT(unbacked_address == 0);
    __builtin_unreachable();
}

} // namespace

ExitStatus run_selftest(aos::boot::StringRef name) {
    print("selftest: {}\n", name);
    if (name.equals("undefined")) undefined_instruction();
    if (name.equals("data-abort")) data_abort();
    if (name.equals("assert")) library_assertion();
    if (name.equals("pass")) {
        print("selftest: pass\n");
        return ExitStatus::success;
    }
    print("selftest: unknown test; known: undefined, data-abort, assert, pass\n");
    return ExitStatus::test_failed;
}

} // namespace kernel
