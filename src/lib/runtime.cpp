// User runtime start-up and the library hooks for user programs: static constructors, panic and log through
// the kernel's debug print.
#include "heap.hpp"
#include "syscalls.hpp"

#include <cstdint>

#include <aos/core/format.hpp>
#include <aos/core/hooks.hpp>

extern "C" {
using InitFn = void (*)();
extern InitFn __init_array_start[];
extern InitFn __init_array_end[];

void aos_runtime_init(std::uint64_t boot_argument) {
    aos::sys::detail::set_boot_argument(boot_argument);
    // A process its parent gave RAM gets its heap and page-fault handler now, so even a fault before the
    // first malloc is reported by the runtime; others have no heap (malloc returns null).
    (void)aos::heap::init();
    for (InitFn* fn = __init_array_start; fn != __init_array_end; ++fn)
        (*fn)();
}

struct AosArguments {
    long argc;
    char** argv;
};

// main's arguments: the words of the arguments page the parent mapped, if x0 pointed at one. They stay in
// that read-only page.
AosArguments aos_runtime_arguments() {
    static char* argv[aos::abi::args_max + 1] = {};
    const aos::abi::ArgsPage* page = aos::sys::arguments();
    if (page == nullptr)
        return {0, argv};
    for (std::uint32_t i = 0; i < page->argc; ++i)
        argv[i] = const_cast<char*>(page->text + page->offset[i]);
    argv[page->argc] = nullptr;
    return {static_cast<long>(page->argc), argv};
}

void aos_hook_log(const char* message) {
    std::size_t n = 0;
    while (message[n] != '\0')
        ++n;
    (void)aos::sys::debug_print(message, n);
    (void)aos::sys::debug_print("\n", 1);
}

void aos_hook_panic(const char* message, const char* file, int line) {
    aos::core::FixedString<256> text;
    aos::core::format_to(text, "panic: {} at {}:{}\n", message, file, line);
    (void)aos::sys::debug_print(text.c_str(), text.size());
    aos::sys::exit(-1);
}
}
