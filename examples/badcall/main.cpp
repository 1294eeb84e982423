// Calls the kernel with every kind of bad argument and prints what came back: each must be an error to the
// caller, never a kernel fault.
#include "print.hpp"

#include <aos/abi/capability.hpp>

#include <cstdint>

namespace {

void report(const char* what, aos::sys::SyscallResult r) {
    if (r.error == aos::abi::syscall_success)
        aos::sys::print("badcall: {}: accepted\n", what);
    else
        aos::sys::print("badcall: {}: {}\n", what, static_cast<aos::Errc>(r.error));
}

const char text[] = "ok";
// Where the kernel puts the top of a program's stack (src/kernel/dispatch.cpp): 16 pages below 2^48.
constexpr std::uint64_t user_stack_top = (std::uint64_t{1} << 48) - 16 * 4096;

} // namespace

int main() {
    using aos::abi::Syscall;
    using aos::sys::syscall;
    report("null pointer", syscall(Syscall::debug_print, 0, 8));
    report("kernel address", syscall(Syscall::debug_print, 0xffff000040080000, 8));
    report("unmapped user address", syscall(Syscall::debug_print, 0x10000000, 8));
    report("beyond the user half", syscall(Syscall::debug_print, std::uint64_t{1} << 48, 8));
    report("wrapping length",
           syscall(Syscall::debug_print, reinterpret_cast<std::uintptr_t>(text), ~std::uint64_t{0}));
    report("too long", syscall(Syscall::debug_print, reinterpret_cast<std::uintptr_t>(text),
                               aos::abi::debug_print_max + 1));
    // The last 16 bytes of the stack and 48 beyond its top, where nothing is mapped.
    report("running off the mapping", syscall(Syscall::debug_print, user_stack_top - 16, 64));
    report("unknown system call", syscall(static_cast<Syscall>(999)));
    report("valid print", syscall(Syscall::debug_print, reinterpret_cast<std::uintptr_t>(text), 0));
    // Capability addresses resolve only in the caller's own CSpace (init's, when badcall runs first; none
    // otherwise).
    bool init = aos::sys::bootinfo() != nullptr;
    report(init ? "invoke on an empty slot" : "invoke without a CSpace",
           syscall(Syscall::invoke, aos::abi::caddr(aos::abi::root_slot_slot_alloc0, 0),
                   static_cast<std::uint64_t>(aos::abi::CapOp::identify)));
    if (init) {
        // Where init's dispatchers CNode would hold a second program's dispatcher: run=badcall has none.
        report("stop through an empty dispatcher slot",
               syscall(Syscall::invoke, aos::abi::caddr(aos::abi::root_slot_dispatchers, 0),
                       static_cast<std::uint64_t>(aos::abi::CapOp::dispatcher_stop)));
    }
    aos::sys::print("badcall: done\n");
    return 0;
}
