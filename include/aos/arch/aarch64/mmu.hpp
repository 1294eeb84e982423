// The EL1 translation-control registers (MAIR_EL1, TCR_EL1, SCTLR_EL1, TTBRn_EL1, ID_AA64MMFR0_EL1) as typed
// fields, and the values aos programs for the 4 KiB granule (Arm ARM DDI 0487, D24.2).
//
//   namespace a64 = aos::arch::aarch64;
//   std::uint64_t tcr = a64::tcr::ttbr0_only_4k(a64::mmfr0::PaRange::get(id_aa64mmfr0));
//   std::uint64_t mair = a64::mair::value;   // AttrIndx n selects MemoryType n
#pragma once

#include <aos/arch/aarch64/descriptors.hpp>
#include <aos/core/bitfield.hpp>

#include <cstdint>

namespace aos::arch::aarch64 {

namespace mair {
// Attr<n> is byte n of MAIR_EL1.
constexpr std::uint64_t attr_shift(unsigned n) {
    return std::uint64_t{8} * n;
}
inline constexpr std::uint64_t normal_write_back = 0xff;    // inner and outer WB non-transient, RW-allocate
inline constexpr std::uint64_t normal_non_cacheable = 0x44; // inner and outer non-cacheable
inline constexpr std::uint64_t device_ngnre = 0x04;         // Device-nGnRE
// The MAIR_EL1 value that makes AttrIndx == MemoryType.
inline constexpr std::uint64_t value =
    (normal_write_back << attr_shift(static_cast<unsigned>(MemoryType::normal))) |
    (normal_non_cacheable << attr_shift(static_cast<unsigned>(MemoryType::normal_uncached))) |
    (device_ngnre << attr_shift(static_cast<unsigned>(MemoryType::device)));
static_assert(value == 0x0000'0000'0004'44ff);
} // namespace mair

namespace tcr {
using Reg = std::uint64_t;
using T0sz = core::BitField<Reg, 0, 6>; // TTBR0 region is 2^(64 - T0SZ) bytes
using Epd0 = core::BitFlag<Reg, 7>;     // no walks through TTBR0
using Irgn0 = core::BitField<Reg, 8, 2>;
using Orgn0 = core::BitField<Reg, 10, 2>;
using Sh0 = core::BitField<Reg, 12, 2>;
using Tg0 = core::BitField<Reg, 14, 2>;
using T1sz = core::BitField<Reg, 16, 6>;
using A1 = core::BitFlag<Reg, 22>; // ASID from TTBR1 (1) or TTBR0 (0)
using Epd1 = core::BitFlag<Reg, 23>;
using Irgn1 = core::BitField<Reg, 24, 2>;
using Orgn1 = core::BitField<Reg, 26, 2>;
using Sh1 = core::BitField<Reg, 28, 2>;
using Tg1 = core::BitField<Reg, 30, 2>;
using Ips = core::BitField<Reg, 32, 3>; // intermediate physical address size, same encoding as PARange
using As = core::BitFlag<Reg, 36>;      // 16-bit ASIDs

static_assert(T0sz::mask == 0x3f && Epd0::mask == 0x80 && Tg0::mask == 0xc000 && T1sz::mask == 0x3f0000);
static_assert(Epd1::mask == 1u << 23 && Tg1::mask == 0xc000'0000 && Ips::mask == 0x7ull << 32 &&
              As::mask == 1ull << 36);

// Walk cacheability (IRGNn/ORGNn).
inline constexpr Reg rgn_write_back_allocate = 0b01;
// TG0 and TG1 encode the granule differently.
inline constexpr Reg tg0_4k = 0b00;
inline constexpr Reg tg0_64k = 0b01;
inline constexpr Reg tg0_16k = 0b10;
inline constexpr Reg tg1_16k = 0b01;
inline constexpr Reg tg1_4k = 0b10;
inline constexpr Reg tg1_64k = 0b11;

constexpr Reg tsz_for(unsigned va_bits) {
    return 64 - va_bits;
}

// TTBR0 walks only (EPD1 set) with 48-bit addresses, 4 KiB granule, cacheable inner-shareable walks, and
// IPS as reported by ID_AA64MMFR0_EL1.PARange. TG1 still names a valid granule, as the manual requires.
constexpr Reg ttbr0_only_4k(Reg pa_range) {
    Reg r = 0;
    r = T0sz::set(r, tsz_for(Granule4k::va_bits));
    r = Irgn0::set(r, rgn_write_back_allocate);
    r = Orgn0::set(r, rgn_write_back_allocate);
    r = Sh0::set(r, static_cast<Reg>(Shareability::inner));
    r = Tg0::set(r, tg0_4k);
    r = T1sz::set(r, tsz_for(Granule4k::va_bits));
    r = Epd1::set(r, true);
    r = Tg1::set(r, tg1_4k);
    r = Ips::set(r, pa_range);
    return r;
}
} // namespace tcr

namespace mmfr0 {
using PaRange = core::BitField<std::uint64_t, 0, 4>; // 0: 32 bits ... 5: 48 bits, 6: 52 bits
using AsidBits = core::BitField<std::uint64_t, 4, 4>;
using TGran4 = core::BitField<std::uint64_t, 28, 4>; // 0b1111: 4 KiB granule not implemented
inline constexpr std::uint64_t pa_range_48 = 5;
inline constexpr std::uint64_t tgran4_absent = 0xf;
} // namespace mmfr0

namespace sctlr {
using Reg = std::uint64_t;
using M = core::BitFlag<Reg, 0>;    // stage 1 MMU enable
using A = core::BitFlag<Reg, 1>;    // alignment checking
using C = core::BitFlag<Reg, 2>;    // data cacheability
using Sa = core::BitFlag<Reg, 3>;   // SP alignment checking
using I = core::BitFlag<Reg, 12>;   // instruction cacheability
using Uct = core::BitFlag<Reg, 15>; // EL0 may read CTR_EL0 (the cache line sizes)
using Wxn = core::BitFlag<Reg, 19>; // writable implies execute-never
using Uci = core::BitFlag<Reg, 26>; // EL0 may clean and invalidate caches by VA (DC CVAU, IC IVAU, ...)
static_assert(M::mask == 1 && C::mask == 4 && I::mask == 0x1000 && Wxn::mask == 0x80000);
static_assert(Uct::mask == 0x8000 && Uci::mask == 0x4000000);
} // namespace sctlr

// TTBRn_EL1: the table base in BADDR[47:1] (aligned to the table size, so bits below 12 are zero) and the
// ASID in [63:48].
namespace ttbr {
using Baddr = core::BitField<std::uint64_t, 1, 47>;
using Asid = core::BitField<std::uint64_t, 48, 16>;
constexpr std::uint64_t make(std::uint64_t table_pa, std::uint64_t asid) {
    return (table_pa & desc::address_mask) | Asid::make(asid);
}
} // namespace ttbr

// The operand of TLBI by VA (VALE1IS, VAE1IS) and by ASID (ASIDE1IS): VA[55:12] in bits [43:0], the ASID in
// [63:48] (ignored for global entries).
namespace tlbi {
using Va = core::BitField<std::uint64_t, 0, 44>;
using Asid = core::BitField<std::uint64_t, 48, 16>;
constexpr std::uint64_t by_va(std::uint64_t va, std::uint64_t asid = 0) {
    return Va::make(va >> 12) | Asid::make(asid);
}
constexpr std::uint64_t by_asid(std::uint64_t asid) {
    return Asid::make(asid);
}
static_assert(by_va(0x4000'1000, 3) == ((std::uint64_t{3} << 48) | 0x4'0001) &&
              by_va(0xffff'0000'4000'1000) == 0xff'0000'4000'1); // VA[55:48] kept, [63:56] dropped
} // namespace tlbi

// Every implementation has at least 8-bit ASIDs (TCR_EL1.AS = 0 uses those): 256 address spaces.
inline constexpr unsigned asid_count_8bit = 1u << 8;

// ESR_ELx.ISS fault status codes of data and instruction aborts (DFSC/IFSC), with the level in bits [1:0].
namespace fsc {
inline constexpr std::uint64_t kind_mask = 0x3c;
inline constexpr std::uint64_t level_mask = 0x3;
inline constexpr std::uint64_t address_size = 0x00;
inline constexpr std::uint64_t translation = 0x04;
inline constexpr std::uint64_t access_flag = 0x08;
inline constexpr std::uint64_t permission = 0x0c;
constexpr const char* name(std::uint64_t status) {
    switch (status & kind_mask) {
    case address_size:
        return "address size fault";
    case translation:
        return "translation fault";
    case access_flag:
        return "access flag fault";
    case permission:
        return "permission fault";
    default:
        break;
    }
    return "other fault";
}
} // namespace fsc

} // namespace aos::arch::aarch64
