// The user runtime's system-call stubs.
#include "syscalls.hpp"

#include "print.hpp"

namespace aos::sys {

SyscallResult syscall(abi::Syscall number, std::uint64_t a0, std::uint64_t a1, std::uint64_t a2,
                      std::uint64_t a3, std::uint64_t a4, std::uint64_t a5) {
    register std::uint64_t x0 __asm__("x0") = a0;
    register std::uint64_t x1 __asm__("x1") = a1;
    register std::uint64_t x2 __asm__("x2") = a2;
    register std::uint64_t x3 __asm__("x3") = a3;
    register std::uint64_t x4 __asm__("x4") = a4;
    register std::uint64_t x5 __asm__("x5") = a5;
    register std::uint64_t x8 __asm__("x8") = static_cast<std::uint64_t>(number);
    __asm__ volatile("svc #0" : "+r"(x0), "+r"(x1) : "r"(x2), "r"(x3), "r"(x4), "r"(x5), "r"(x8) : "memory");
    return {x0, x1};
}

namespace {
Result<void> as_result(SyscallResult r) {
    if (r.error == abi::syscall_success)
        return ok();
    return error(static_cast<Errc>(r.error));
}
} // namespace

Result<void> debug_print(const char* text, std::size_t length) {
    return as_result(syscall(abi::Syscall::debug_print, reinterpret_cast<std::uintptr_t>(text), length));
}

Result<void> yield() {
    return as_result(syscall(abi::Syscall::yield));
}

Result<void> sleep_us(std::uint64_t us) {
    return as_result(syscall(abi::Syscall::sleep, us));
}

std::uint64_t counter() {
    std::uint64_t v = 0;
    __asm__ volatile("isb\n mrs %0, cntvct_el0" : "=r"(v)::"memory");
    return v;
}

std::uint64_t instructions() {
    std::uint64_t v = 0;
    __asm__ volatile("isb\n mrs %0, pmevcntr0_el0" : "=r"(v)::"memory");
    return v;
}

std::uint64_t counter_frequency() {
    std::uint64_t v = 0;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
    return v;
}

void exit(int status) {
    syscall(abi::Syscall::exit, static_cast<std::uint64_t>(static_cast<std::int64_t>(status)));
    for (;;) // the kernel never returns from exit
        ;
}

namespace {
// x0 at entry: the one piece of process-wide state the runtime keeps.
constinit std::uint64_t boot_argument = 0;
} // namespace

void detail::set_boot_argument(std::uint64_t value) {
    boot_argument = value;
}

const abi::BootInfo* bootinfo() {
    const auto* bi = reinterpret_cast<const abi::BootInfo*>(boot_argument);
    if (bi == nullptr || bi->magic != abi::bootinfo_magic || bi->version != abi::bootinfo_version)
        return nullptr;
    return bi;
}

const abi::BootInfo* require_bootinfo(const char* program) {
    const abi::BootInfo* bi = bootinfo();
    if (bi == nullptr || bi->free_ram_count == 0) {
        print("{}: must run as init (first in run=)\n", program);
        return nullptr;
    }
    return bi;
}

const abi::ArgsPage* arguments() {
    const auto* a = reinterpret_cast<const abi::ArgsPage*>(boot_argument);
    if (a == nullptr || a->magic != abi::args_magic || a->version != abi::args_version ||
        a->argc > abi::args_max)
        return nullptr;
    return a;
}

const char* getenv(const char* name) {
    const abi::ArgsPage* a = arguments();
    if (a == nullptr || name == nullptr)
        return nullptr;
    for (std::uint32_t i = 0; i < a->envc && i < abi::env_max; ++i) {
        const char* e = a->text + a->env_offset[i];
        std::size_t k = 0;
        while (name[k] != '\0' && e[k] == name[k])
            ++k;
        if (name[k] == '\0' && e[k] == '=')
            return e + k + 1;
    }
    return nullptr;
}

const abi::CapRecord* capability_record(const char* name) {
    const abi::ArgsPage* a = arguments();
    return a != nullptr && name != nullptr ? abi::find_capability(*a, name) : nullptr;
}

} // namespace aos::sys

extern "C" void aos_exit(int status) {
    aos::sys::exit(status);
}
