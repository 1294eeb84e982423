// VMSAv8-64 translation-table descriptors for the 4 KiB granule, 48-bit virtual addresses, levels 0-3
// (Arm ARM DDI 0487, D8.3), declared once as typed bit ranges; PageAttrs is the architecture-neutral
// request the page-table tree turns into a descriptor.
//
//   namespace a64 = aos::arch::aarch64;
//   a64::PageAttrs rw{.kernel = a64::prot_rw};                        // kernel data: RW, no execute
//   std::uint64_t d = *a64::Granule4k::encode_leaf(pa, rw, 3);         // an L3 page descriptor
//   auto leaf = a64::Granule4k::decode_leaf(d, 3);                     // back: pa and attrs
#pragma once

#include <aos/arch/page.hpp>
#include <aos/core/bitfield.hpp>
#include <aos/core/result.hpp>

#include <cstdint>

namespace aos::arch::aarch64 {

using Descriptor = std::uint64_t;

// Fields common to all descriptor formats (D8.3.1, 4 KiB granule).
namespace desc {
using Valid = core::BitFlag<Descriptor, 0>;
// Bit 1: 1 = table descriptor at L0-L2 or page descriptor at L3; 0 = block descriptor (L1, L2).
using TypeTableOrPage = core::BitFlag<Descriptor, 1>;
// Output address bits [47:12] (of the next table, the block or the page).
using OutputAddress = core::BitField<Descriptor, 12, 36>;
inline constexpr Descriptor address_mask = OutputAddress::mask;

// Lower attributes of block and page descriptors.
using AttrIndx = core::BitField<Descriptor, 2, 3>; // index into MAIR_EL1
using Ns = core::BitFlag<Descriptor, 5>;
using Ap = core::BitField<Descriptor, 6, 2>; // AP[2:1]
using Sh = core::BitField<Descriptor, 8, 2>;
using Af = core::BitFlag<Descriptor, 10>; // access flag: 0 faults on first access (no hardware AF update)
using NG = core::BitFlag<Descriptor, 11>; // not global: tagged with the ASID
// Upper attributes.
using Contiguous = core::BitFlag<Descriptor, 52>;
using Pxn = core::BitFlag<Descriptor, 53>;          // privileged (EL1) execute never
using Uxn = core::BitFlag<Descriptor, 54>;          // unprivileged (EL0) execute never (XN)
using Software = core::BitField<Descriptor, 55, 4>; // ignored by hardware

// Hierarchical attributes of table descriptors (not used by aos: all limits live in the leaves).
using PxnTable = core::BitFlag<Descriptor, 59>;
using UxnTable = core::BitFlag<Descriptor, 60>;
using ApTable = core::BitField<Descriptor, 61, 2>;
using NsTable = core::BitFlag<Descriptor, 63>;

// AP[2:1] (D8.4.1.2.1): AP[2] selects read-only, AP[1] grants EL0 access.
inline constexpr Descriptor ap_el1_rw = 0b00;
inline constexpr Descriptor ap_el1_rw_el0_rw = 0b01;
inline constexpr Descriptor ap_el1_ro = 0b10;
inline constexpr Descriptor ap_el1_ro_el0_ro = 0b11;

// SH[1:0].
inline constexpr Descriptor sh_non = 0b00;
inline constexpr Descriptor sh_outer = 0b10;
inline constexpr Descriptor sh_inner = 0b11;
} // namespace desc

static_assert(desc::Valid::mask == 0x1 && desc::TypeTableOrPage::mask == 0x2);
static_assert(desc::AttrIndx::mask == 0x1c && desc::Ns::mask == 0x20 && desc::Ap::mask == 0xc0);
static_assert(desc::Sh::mask == 0x300 && desc::Af::mask == 0x400 && desc::NG::mask == 0x800);
static_assert(desc::OutputAddress::mask == 0x0000'ffff'ffff'f000);
static_assert(desc::Contiguous::mask == 1ull << 52 && desc::Pxn::mask == 1ull << 53 &&
              desc::Uxn::mask == 1ull << 54);
static_assert(desc::PxnTable::mask == 1ull << 59 && desc::UxnTable::mask == 1ull << 60 &&
              desc::ApTable::mask == 3ull << 61 && desc::NsTable::mask == 1ull << 63);

// Access rights of one privilege level, as a bit set.
using Prot = std::uint8_t;
inline constexpr Prot prot_none = 0;
inline constexpr Prot prot_read = 1;
inline constexpr Prot prot_write = 2;
inline constexpr Prot prot_exec = 4;
inline constexpr Prot prot_rw = prot_read | prot_write;
inline constexpr Prot prot_rx = prot_read | prot_exec;
inline constexpr Prot prot_all = prot_read | prot_write | prot_exec;

// The memory types aos programs into MAIR_EL1; the value is the AttrIndx that selects it (mmu.hpp holds the
// matching MAIR encodings).
enum class MemoryType : std::uint8_t {
    normal = 0,          // normal memory, inner/outer write-back non-transient, read/write-allocate
    normal_uncached = 1, // normal memory, non-cacheable (shared buffers with non-coherent devices)
    device = 2,          // Device-nGnRE (MMIO)
};
inline constexpr unsigned memory_type_count = 3;

enum class Shareability : std::uint8_t {
    non = desc::sh_non,
    outer = desc::sh_outer,
    inner = desc::sh_inner,
};

// What a mapping allows and how the memory behaves. The kernel always keeps read access to a mapping
// (VMSAv8-64 cannot express an EL1 mapping without it), EL0 rights are a subset of EL1's, and an
// EL0-writable mapping cannot be EL1-executable (the architecture forces PXN there): encode_leaf rejects
// what the hardware cannot express rather than silently granting something else.
struct PageAttrs {
    Prot kernel = prot_read;
    Prot user = prot_none;
    MemoryType memory = MemoryType::normal;
    Shareability share = Shareability::inner;
    bool global = true; // false: nG, the entry belongs to the current ASID

    friend constexpr bool operator==(const PageAttrs&, const PageAttrs&) = default;
};

// How a page of a user address space is mapped (the kernel's own maps and user space's shadow of them alike):
// EL0 gets `user`; EL1 reads it, writes it when EL0 may, and never executes it (user code must not run at
// EL1). Not global: the entry belongs to one ASID.
constexpr PageAttrs user_page_attrs(Prot user, MemoryType memory = MemoryType::normal) {
    return PageAttrs{.kernel = static_cast<Prot>((user & prot_rw) | prot_read),
                     .user = user,
                     .memory = memory,
                     .share = Shareability::inner,
                     .global = false};
}

// A decoded leaf (block or page) descriptor.
struct Leaf {
    std::uint64_t pa = 0;
    PageAttrs attrs;
};

// Geometry and descriptor formats of the 4 KiB granule with 48-bit addresses: the `Arch` parameter of
// aos::vm::PageTable.
struct Granule4k {
    static constexpr unsigned levels = 4;
    static constexpr unsigned page_shift = static_cast<unsigned>(aos::arch::page_shift);
    static constexpr unsigned bits_per_level = 9;
    static constexpr unsigned entries = 1u << bits_per_level;
    static constexpr unsigned va_bits = 48;
    static constexpr unsigned pa_bits = 48;
    static constexpr std::uint64_t page_size = std::uint64_t{1} << page_shift;
    static constexpr std::uint64_t table_bytes = entries * sizeof(Descriptor);
    using Attrs = PageAttrs;

    // Bytes one entry of `level` maps: 512 GiB, 1 GiB, 2 MiB, 4 KiB.
    static constexpr unsigned shift(unsigned level) {
        return page_shift + bits_per_level * (levels - 1 - level);
    }
    static constexpr std::uint64_t entry_size(unsigned level) { return std::uint64_t{1} << shift(level); }
    static constexpr unsigned index(std::uint64_t va, unsigned level) {
        return static_cast<unsigned>((va >> shift(level)) & (entries - 1));
    }
    // Block descriptors exist at L1 (1 GiB) and L2 (2 MiB); L0 blocks need FEAT_LPA2 and 52-bit addresses.
    static constexpr bool block_allowed(unsigned level) { return level == 1 || level == 2; }
    static constexpr bool is_last_level(unsigned level) { return level == levels - 1; }

    static constexpr bool is_valid(Descriptor d) { return desc::Valid::get(d); }
    static constexpr bool is_table(Descriptor d, unsigned level) {
        return is_valid(d) && !is_last_level(level) && desc::TypeTableOrPage::get(d);
    }
    static constexpr bool is_leaf(Descriptor d, unsigned level) {
        return is_valid(d) &&
               (is_last_level(level) ? desc::TypeTableOrPage::get(d) : !desc::TypeTableOrPage::get(d));
    }
    static constexpr std::uint64_t next_table(Descriptor d) { return d & desc::address_mask; }

    static constexpr Descriptor encode_table(std::uint64_t table_pa) {
        return desc::Valid::mask | desc::TypeTableOrPage::mask | (table_pa & desc::address_mask);
    }

    // Whether the hardware can express `a` (see PageAttrs).
    static Result<void> check_attrs(const PageAttrs& a) {
        if ((a.kernel & ~prot_all) != 0 || (a.user & ~prot_all) != 0 ||
            static_cast<unsigned>(a.memory) >= memory_type_count)
            return error(Errc::invalid_argument);
        if (a.share != Shareability::non && a.share != Shareability::outer && a.share != Shareability::inner)
            return error(Errc::invalid_argument);
        if ((a.kernel & prot_read) == 0)
            return error(Errc::unsupported);
        if ((a.user & prot_rw) != 0 && (a.user & prot_rw) != (a.kernel & prot_rw))
            return error(Errc::unsupported); // EL0 and EL1 share AP[2]: same read-only-ness, both readable
        if ((a.user & prot_write) != 0 && (a.kernel & prot_exec) != 0)
            return error(Errc::unsupported); // EL0-writable implies PXN
        return ok();
    }

    // A block (L1/L2) or page (L3) descriptor. The caller checks alignment and the level.
    static Result<Descriptor> encode_leaf(std::uint64_t pa, const PageAttrs& a, unsigned level) {
        AOS_TRY(check_attrs(a));
        if (!is_last_level(level) && !block_allowed(level))
            return error(Errc::invalid_argument);
        if ((pa & (entry_size(level) - 1)) != 0)
            return error(Errc::misaligned);
        if ((pa & ~desc::address_mask) != 0)
            return error(Errc::out_of_range);
        Descriptor d = desc::Valid::mask | pa;
        d = desc::TypeTableOrPage::set(d, is_last_level(level));
        d = desc::AttrIndx::set(d, static_cast<Descriptor>(a.memory));
        bool read_only = (a.kernel & prot_write) == 0;
        bool el0 = (a.user & prot_rw) != 0;
        d = desc::Ap::set(d, read_only ? (el0 ? desc::ap_el1_ro_el0_ro : desc::ap_el1_ro)
                                       : (el0 ? desc::ap_el1_rw_el0_rw : desc::ap_el1_rw));
        d = desc::Sh::set(d, static_cast<Descriptor>(a.share));
        d = desc::Af::set(d, true); // no hardware access-flag management: a clear AF would fault
        d = desc::NG::set(d, !a.global);
        d = desc::Pxn::set(d, (a.kernel & prot_exec) == 0);
        d = desc::Uxn::set(d, (a.user & prot_exec) == 0);
        return d;
    }

    // The inverse of encode_leaf for a descriptor it produced (is_leaf must hold).
    static constexpr Leaf decode_leaf(Descriptor d, unsigned level) {
        Leaf l;
        l.pa = d & desc::address_mask & ~(entry_size(level) - 1);
        Descriptor ap = desc::Ap::get(d);
        bool read_only = (ap & desc::ap_el1_ro) != 0;
        bool el0 = (ap & desc::ap_el1_rw_el0_rw) != 0;
        l.attrs.kernel =
            static_cast<Prot>(prot_read | (read_only ? 0 : prot_write) | (desc::Pxn::get(d) ? 0 : prot_exec));
        l.attrs.user = static_cast<Prot>((el0 ? (read_only ? prot_read : prot_rw) : 0) |
                                         (desc::Uxn::get(d) ? 0 : prot_exec));
        l.attrs.memory = static_cast<MemoryType>(desc::AttrIndx::get(d));
        l.attrs.share = static_cast<Shareability>(desc::Sh::get(d));
        l.attrs.global = !desc::NG::get(d);
        return l;
    }
};

static_assert(Granule4k::entry_size(0) == std::uint64_t{512} << 30 &&
              Granule4k::entry_size(1) == 1ull << 30 && Granule4k::entry_size(2) == 2ull << 20 &&
              Granule4k::entry_size(3) == 4096);
static_assert(Granule4k::table_bytes == Granule4k::page_size, "a table fills exactly one granule");
static_assert(Granule4k::shift(0) + Granule4k::bits_per_level == Granule4k::va_bits);

} // namespace aos::arch::aarch64
