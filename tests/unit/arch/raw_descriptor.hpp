// Test helper: the attributes of a block or page descriptor read straight from its bits as the Arm ARM
// lays them out (D8.3, D8.4), independently of Granule4k::decode_leaf.
#pragma once

#include <aos/arch/aarch64/descriptors.hpp>

#include <cstdint>

namespace aos_test {

// AP[2:1] = bits 7:6, PXN 53, UXN 54, AttrIndx 4:2, SH 9:8, nG 11. An EL0-writable page is never
// EL1-executable (the hardware forces PXN).
inline aos::arch::aarch64::PageAttrs attrs_from_bits(std::uint64_t d) {
    namespace a64 = aos::arch::aarch64;
    bool ap2 = (d >> 7) & 1, ap1 = (d >> 6) & 1, pxn = (d >> 53) & 1, uxn = (d >> 54) & 1;
    a64::PageAttrs a;
    a.kernel = a64::prot_read | (ap2 ? 0 : a64::prot_write) | (pxn || (ap1 && !ap2) ? 0 : a64::prot_exec);
    a.user = (ap1 ? a64::prot_read : 0) | (ap1 && !ap2 ? a64::prot_write : 0) | (uxn ? 0 : a64::prot_exec);
    a.memory = static_cast<a64::MemoryType>((d >> 2) & 7);
    a.share = static_cast<a64::Shareability>((d >> 8) & 3);
    a.global = ((d >> 11) & 1) == 0;
    return a;
}

} // namespace aos_test
