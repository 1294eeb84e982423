// aos::core::BitField and BitFlag: extraction, insertion, truncation, full-width fields.
#include "catch.hpp"

#include <aos/core/bitfield.hpp>

#include <cstdint>

using aos::core::BitField;
using aos::core::BitFlag;

TEST_CASE("BitField reads and writes its bits only") {
    using Ec = BitField<std::uint64_t, 26, 6>;
    static_assert(Ec::mask == 0xfc000000);
    static_assert(Ec::max == 63);
    std::uint64_t esr = 0x96000045; // a data abort syndrome
    REQUIRE(Ec::get(esr) == 0x25);
    std::uint64_t w = Ec::set(esr, 0x15);
    REQUIRE(Ec::get(w) == 0x15);
    REQUIRE((w & ~Ec::mask) == (esr & ~Ec::mask));
    REQUIRE(Ec::set(0, 0xff) == Ec::make(0x3f)); // too wide: truncated to the field
    REQUIRE_FALSE(Ec::fits(64));
    REQUIRE(Ec::fits(63));
}

TEST_CASE("BitField covering the whole word") {
    using All = BitField<std::uint32_t, 0, 32>;
    static_assert(All::mask == 0xffffffffu);
    REQUIRE(All::get(0xdeadbeef) == 0xdeadbeef);
    REQUIRE(All::set(1, 2) == 2);
}

TEST_CASE("BitFlag") {
    using Af = BitFlag<std::uint64_t, 10>;
    REQUIRE(Af::set(0, true) == 0x400);
    REQUIRE(Af::get(0x400));
    REQUIRE(Af::set(0xffff, false) == 0xfbff);
}
