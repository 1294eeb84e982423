// aos::core::format_to: placeholders, hex, padding, escapes, truncation.
#include "catch.hpp"

#include <aos/core/format.hpp>

#include <cstdint>
#include <limits>
#include <string>

namespace {
template <class... Args>
std::string fmt(const char* f, const Args&... args) {
    aos::core::FixedString<256> s;
    aos::core::format_to(s, f, args...);
    return s.c_str();
}
} // namespace

TEST_CASE("integers, hex and padding") {
    REQUIRE(fmt("{} {} {}", 0, -17, 42u) == "0 -17 42");
    REQUIRE(fmt("{:x}", 255) == "0xff");
    REQUIRE(fmt("{:016x}", std::uint64_t{0x40000000}) == "0x0000000040000000");
    REQUIRE(fmt("{:4}|", 7) == "   7|");
    REQUIRE(fmt("{}", std::numeric_limits<std::int64_t>::min()) == "-9223372036854775808");
    REQUIRE(fmt("{}", std::numeric_limits<std::uint64_t>::max()) == "18446744073709551615");
}

TEST_CASE("strings, chars, bools, error codes, string refs") {
    REQUIRE(fmt("[{}] {}{} {}", "ram", 'o', 'k', true) == "[ram] ok true");
    REQUIRE(fmt("{}", aos::Errc::overlap) == "overlap");
    const char* null_str = nullptr;
    REQUIRE(fmt("{}", null_str) == "(null)");
    REQUIRE(fmt("<{}>", aos::core::StringRef{"abcdef", 3}) == "<abc>");
    REQUIRE(fmt("[{:6}]", "init") == "[init  ]");
    REQUIRE(fmt("[{:2}]", "init") == "[init]");
}

TEST_CASE("escaped braces and missing arguments") {
    REQUIRE(fmt("{{}} {}", 1) == "{} 1");
    REQUIRE(fmt("a {} b {}", 1) == "a 1 b {}");
    REQUIRE(fmt("{{x}}") == "{x}");
}

TEST_CASE("FixedString truncates instead of overflowing") {
    aos::core::FixedString<8> s;
    aos::core::format_to(s, "{}", "0123456789");
    REQUIRE(std::string(s.c_str()) == "0123456");
    REQUIRE(s.size() == 7);
    REQUIRE(s.truncated_at_capacity());
}
