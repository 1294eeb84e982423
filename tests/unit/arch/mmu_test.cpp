// The MMU control registers' fields and the values aos programs (Arm ARM D24.2: TCR_EL1, MAIR_EL1,
// SCTLR_EL1, TTBR0_EL1; ESR fault status codes).
#include "catch.hpp"

#include <aos/arch/aarch64/mmu.hpp>

#include <cstdint>
#include <string_view>

namespace a64 = aos::arch::aarch64;

TEST_CASE("mmu: MAIR gives each MemoryType its attribute at its AttrIndx") {
    REQUIRE(((a64::mair::value >> 0) & 0xff) == 0xff);  // normal, write-back
    REQUIRE(((a64::mair::value >> 8) & 0xff) == 0x44);  // normal, non-cacheable
    REQUIRE(((a64::mair::value >> 16) & 0xff) == 0x04); // Device-nGnRE
    REQUIRE((a64::mair::value >> 24) == 0);
}

TEST_CASE("mmu: TCR for TTBR0 only, 48-bit, 4 KiB granule") {
    std::uint64_t tcr = a64::tcr::ttbr0_only_4k(a64::mmfr0::pa_range_48);
    REQUIRE((tcr & 0x3f) == 16);           // T0SZ: 2^48 bytes
    REQUIRE(((tcr >> 14) & 3) == 0b00);    // TG0 = 4 KiB
    REQUIRE(((tcr >> 30) & 3) == 0b10);    // TG1 = 4 KiB (a different encoding)
    REQUIRE(((tcr >> 23) & 1) == 1);       // EPD1: no TTBR1 walks
    REQUIRE(((tcr >> 7) & 1) == 0);        // EPD0 clear
    REQUIRE(((tcr >> 8) & 0xf) == 0b0101); // IRGN0, ORGN0 write-back allocate
    REQUIRE(((tcr >> 12) & 3) == 0b11);    // SH0 inner shareable
    REQUIRE(((tcr >> 32) & 7) == 5);       // IPS 48 bits
    REQUIRE(((tcr >> 36) & 1) == 0);       // 8-bit ASIDs
}

TEST_CASE("mmu: SCTLR, TTBR and fault status codes") {
    std::uint64_t sctlr = 0;
    sctlr = a64::sctlr::M::set(sctlr, true);
    sctlr = a64::sctlr::C::set(sctlr, true);
    sctlr = a64::sctlr::I::set(sctlr, true);
    sctlr = a64::sctlr::Wxn::set(sctlr, true);
    REQUIRE(sctlr == ((1u << 0) | (1u << 2) | (1u << 12) | (1u << 19)));
    REQUIRE(a64::ttbr::make(0x4008'7000, 5) == ((5ull << 48) | 0x4008'7000));
    REQUIRE(a64::ttbr::make(0x4008'7fff, 0) == 0x4008'7000);
    REQUIRE(std::string_view(a64::fsc::name(0x07)) == "translation fault"); // level 3
    REQUIRE(std::string_view(a64::fsc::name(0x0f)) == "permission fault");
    REQUIRE(std::string_view(a64::fsc::name(0x04)) == "translation fault");
    REQUIRE(std::string_view(a64::fsc::name(0x09)) == "access flag fault");
    REQUIRE(std::string_view(a64::fsc::name(0x21)) == "other fault"); // alignment fault
    REQUIRE((0x0full & a64::fsc::level_mask) == 3);
    REQUIRE(a64::mmfr0::PaRange::get(0x1125) == 5);
}
