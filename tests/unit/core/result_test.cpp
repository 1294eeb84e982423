// aos::Result: values, errors, AOS_TRY propagation, and panics on misuse.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/core/result.hpp>

#include <memory>
#include <string>

using aos::Errc;
using aos::Result;

namespace {

Result<int> parse_digit(char c) {
    if (c < '0' || c > '9')
        return aos::error(Errc::invalid_argument);
    return c - '0';
}

Result<int> sum_digits(const char* s) {
    int total = 0;
    for (; *s != '\0'; ++s)
        total += AOS_TRY(parse_digit(*s));
    return total;
}

Result<void> check_even(int v) {
    if (v % 2 != 0)
        return aos::error(Errc::misaligned);
    return aos::ok();
}

Result<int> halve(int v) {
    AOS_TRY(check_even(v));
    return v / 2;
}

} // namespace

TEST_CASE("Result holds a value or an error") {
    Result<int> v = 42;
    REQUIRE(v.has_value());
    REQUIRE(static_cast<bool>(v));
    REQUIRE(*v == 42);
    REQUIRE(v.value() == 42);

    Result<int> e = aos::error(Errc::not_found);
    REQUIRE_FALSE(e.has_value());
    REQUIRE(e.error() == Errc::not_found);
    REQUIRE(e.value_or(7) == 7);
}

TEST_CASE("AOS_TRY returns the first error and yields values otherwise") {
    REQUIRE(*sum_digits("1234") == 10);
    Result<int> bad = sum_digits("12x4");
    REQUIRE_FALSE(bad);
    REQUIRE(bad.error() == Errc::invalid_argument);
    REQUIRE(*halve(10) == 5);
    REQUIRE(halve(3).error() == Errc::misaligned);
}

TEST_CASE("Result<void>") {
    Result<void> good = aos::ok();
    REQUIRE(good);
    Result<void> bad = aos::error(Errc::busy);
    REQUIRE_FALSE(bad);
    REQUIRE(bad.error() == Errc::busy);
}

TEST_CASE("Result owns non-trivial values and moves them") {
    Result<std::unique_ptr<int>> p = std::make_unique<int>(5);
    REQUIRE(**p == 5);
    std::unique_ptr<int> taken = *std::move(p);
    REQUIRE(*taken == 5);

    Result<std::string> s = std::string("frame");
    Result<std::string> copy = s;
    REQUIRE(*copy == "frame");
    copy = aos::error(Errc::truncated);
    REQUIRE(copy.error() == Errc::truncated);
    copy = s;
    REQUIRE(copy->size() == 5);
}

TEST_CASE("value() on an error and error() on a value panic through the hook") {
    Result<int> e = aos::error(Errc::overlap);
    REQUIRE_THROWS_AS(e.value(), aos_test::Panic);
    Result<int> v = 1;
    REQUIRE_THROWS_AS(v.error(), aos_test::Panic);
    Result<void> ve = aos::error(Errc::overlap);
    REQUIRE_THROWS_AS(ve.value(), aos_test::Panic);
}

TEST_CASE("every error code has a name") {
    for (int i = static_cast<int>(Errc::invalid_argument); i <= static_cast<int>(Errc::invalid_state); ++i)
        REQUIRE(std::string(aos::to_string(static_cast<Errc>(i))) != "unknown error");
}
