// The hosted tests' side of the library hooks: a panic throws, so a test can check that a misuse panics.
#include "test_support.hpp"

#include <aos/core/hooks.hpp>

#include <cstdio>
#include <string>

extern "C" void aos_hook_panic(const char* message, const char* file, int line) {
    throw aos_test::Panic(std::string(message) + " at " + file + ":" + std::to_string(line));
}

extern "C" void aos_hook_log(const char* message) {
    std::fprintf(stderr, "aos: %s\n", message);
}
