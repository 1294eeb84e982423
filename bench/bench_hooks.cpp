// The benchmarks' side of the library hooks, linked into every benchmark: a panic is a bug, so abort.
#include <aos/core/hooks.hpp>

#include <cstdio>
#include <cstdlib>

extern "C" void aos_hook_panic(const char* message, const char* file, int line) {
    std::fprintf(stderr, "panic: %s at %s:%d\n", message, file, line);
    std::abort();
}
extern "C" void aos_hook_log(const char* message) {
    std::puts(message);
}
