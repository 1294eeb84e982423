// The ARM PL031 real-time clock (on QEMU's virt board): its device-tree name and the one register a reader
// needs.
//
//   std::uint32_t seconds = *reinterpret_cast<volatile std::uint32_t*>(rtc +
//   aos::arch::aarch64::pl031::rtcdr);
#pragma once

#include <cstddef>

namespace aos::arch::aarch64::pl031 {

inline constexpr const char* compatible = "arm,pl031";
inline constexpr std::size_t rtcdr = 0x000; // data register: seconds since the epoch the host set
inline constexpr std::size_t frame_bytes = 0x1000;

} // namespace aos::arch::aarch64::pl031
