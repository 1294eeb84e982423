// The VMSAv8-64 descriptor encoding (4 KiB granule) against bit positions taken from the Arm ARM (D8.3).
#include "arch/raw_descriptor.hpp"
#include "catch.hpp"

#include <aos/arch/aarch64/descriptors.hpp>

#include <cstdint>

namespace {

namespace a64 = aos::arch::aarch64;
using Arch = a64::Granule4k;

constexpr std::uint64_t kib4 = 4096;
constexpr std::uint64_t mib2 = 2ull << 20;
constexpr std::uint64_t gib1 = 1ull << 30;

using aos_test::attrs_from_bits;

const a64::PageAttrs kernel_rw{.kernel = a64::prot_rw};
const a64::PageAttrs device{
    .kernel = a64::prot_rw, .memory = a64::MemoryType::device, .share = a64::Shareability::non};

} // namespace

TEST_CASE("descriptors: every expressible attribute set round-trips, and the raw bits say the same") {
    unsigned expressible = 0;
    for (unsigned k = 0; k < 8; ++k)
        for (unsigned u = 0; u < 8; ++u)
            for (unsigned mt = 0; mt < a64::memory_type_count; ++mt) {
                a64::PageAttrs a{static_cast<a64::Prot>(k), static_cast<a64::Prot>(u),
                                 static_cast<a64::MemoryType>(mt), a64::Shareability::inner, (k & 1) != 0};
                auto d = Arch::encode_leaf(0x1234'5000, a, 3);
                if (!d)
                    continue;
                ++expressible;
                REQUIRE(Arch::is_leaf(*d, 3));
                REQUIRE(((*d >> 10) & 1) == 1); // AF
                REQUIRE((*d & 0x0000'ffff'ffff'f000ull) == 0x1234'5000);
                REQUIRE(Arch::decode_leaf(*d, 3).attrs == a);
                REQUIRE(attrs_from_bits(*d) == a);
                REQUIRE(*d == (*Arch::encode_leaf(0, a, 3) | 0x1234'5000));
            }
    // EL1 R or RX or RW or RWX (4) x EL0 none or X (2) x 3 types = 24, plus EL0 with the same R/W as EL1
    // (2 x EL1 exec x EL0 exec = 8, minus the EL0-writable + EL1-executable pair: 6) x 3 types = 18.
    REQUIRE(expressible == 42);
}

TEST_CASE("descriptors: what the hardware cannot express is rejected with a precise error") {
    REQUIRE(Arch::encode_leaf(0, {.kernel = a64::prot_write}, 3).error() == aos::Errc::unsupported);
    REQUIRE(Arch::encode_leaf(0, {.kernel = a64::prot_read, .user = a64::prot_rw}, 3).error() ==
            aos::Errc::unsupported);
    REQUIRE(Arch::encode_leaf(0, {.kernel = a64::prot_all, .user = a64::prot_rw}, 3).error() ==
            aos::Errc::unsupported);
    REQUIRE(Arch::encode_leaf(0, {.kernel = 0x8 | a64::prot_read}, 3).error() == aos::Errc::invalid_argument);
    REQUIRE(Arch::encode_leaf(0, {.kernel = a64::prot_read, .memory = static_cast<a64::MemoryType>(3)}, 3)
                .error() == aos::Errc::invalid_argument);
    REQUIRE(Arch::encode_leaf(0, kernel_rw, 0).error() == aos::Errc::invalid_argument); // no L0 blocks
    REQUIRE(Arch::encode_leaf(mib2 + kib4, kernel_rw, 2).error() == aos::Errc::misaligned);
    REQUIRE(Arch::encode_leaf(1ull << 48, kernel_rw, 3).error() == aos::Errc::out_of_range);
}

TEST_CASE("descriptors: block, page and table formats and the geometry") {
    REQUIRE((*Arch::encode_leaf(gib1, kernel_rw, 1) & 3) == 1); // block: bit 1 clear
    REQUIRE((*Arch::encode_leaf(mib2, kernel_rw, 2) & 3) == 1);
    REQUIRE((*Arch::encode_leaf(0, kernel_rw, 3) & 3) == 3); // page: bit 1 set
    REQUIRE(Arch::is_leaf(*Arch::encode_leaf(gib1, kernel_rw, 1), 1));
    REQUIRE(!Arch::is_leaf(1, 3)); // bit 1 clear at L3 is reserved, not a page
    REQUIRE(a64::desc::AttrIndx::get(*Arch::encode_leaf(0, device, 3)) == 2);
    REQUIRE(a64::desc::Sh::get(*Arch::encode_leaf(0, kernel_rw, 3)) == 0b11);
    REQUIRE(a64::desc::NG::get(*Arch::encode_leaf(0, {.kernel = a64::prot_read, .global = false}, 3)));
    REQUIRE(Arch::encode_table(0x4000'1000) == 0x4000'1003);
    REQUIRE(Arch::is_table(0x4000'1003, 0));
    REQUIRE(!Arch::is_table(0x4000'1003, 3));
    REQUIRE(Arch::next_table(0x0060'0000'4000'1003ull) == 0x4000'1000);
    REQUIRE(Arch::index(0x0000'ff80'4020'1000ull, 0) == 0x1ff);
    REQUIRE(Arch::index(0x0000'ff80'4020'1000ull, 1) == 1);
    REQUIRE(Arch::index(0x0000'ff80'4020'1000ull, 2) == 1);
    REQUIRE(Arch::index(0x0000'ff80'4020'1000ull, 3) == 1);
    REQUIRE(Arch::decode_leaf(*Arch::encode_leaf(3 * gib1, kernel_rw, 1), 1).pa == 3 * gib1);
}
