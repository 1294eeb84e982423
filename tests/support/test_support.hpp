// Shared helpers for the hosted tests: the panic exception and seeded randomness.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>

namespace aos_test {

// What the tests' aos_hook_panic throws.
struct Panic : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The seed for a randomized test: AOS_SEED from the environment, else a fresh one. Always printed, so any
// failure can be replayed with AOS_SEED=<seed>.
inline std::uint64_t seed(const char* test_name) {
    std::uint64_t s = 0;
    if (const char* env = std::getenv("AOS_SEED"))
        s = std::strtoull(env, nullptr, 0);
    else
        s = std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);
    std::printf("%s: seed %llu (replay with AOS_SEED=%llu)\n", test_name, static_cast<unsigned long long>(s),
                static_cast<unsigned long long>(s));
    return s;
}

// Iteration counts for randomized tests: seconds by default, AOS_LONG=1 for a soak run.
inline unsigned iterations(unsigned normal) {
    const char* env = std::getenv("AOS_LONG");
    return env != nullptr && env[0] == '1' ? normal * 50 : normal;
}

} // namespace aos_test
