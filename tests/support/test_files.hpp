// Input files the build generates for a test (a DTB dumped from QEMU, ELF programs, a module table),
// found through an environment variable that tests/unit/meson.build sets.
#pragma once

#include "catch.hpp"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

namespace aos_test {

inline std::vector<std::uint8_t> read_test_file(const char* env_var) {
    const char* path = std::getenv(env_var);
    INFO("environment variable " << env_var);
    REQUIRE(path != nullptr);
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f.good());
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

} // namespace aos_test
