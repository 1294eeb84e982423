// Arm PrimeCell PL011 UART registers (Arm DDI 0183): byte offsets and the bits the console uses.
#pragma once

#include <aos/core/bitfield.hpp>

#include <cstdint>

namespace aos::arch::aarch64::pl011 {

inline constexpr std::uint32_t reg_dr = 0x000;   // data
inline constexpr std::uint32_t reg_fr = 0x018;   // flags
inline constexpr std::uint32_t reg_ibrd = 0x024; // integer baud divisor
inline constexpr std::uint32_t reg_fbrd = 0x028; // fractional baud divisor
inline constexpr std::uint32_t reg_lcr_h = 0x02c;
inline constexpr std::uint32_t reg_cr = 0x030;
inline constexpr std::uint32_t reg_imsc = 0x038; // interrupt mask
inline constexpr std::uint32_t reg_mis = 0x040;  // masked interrupt status
inline constexpr std::uint32_t reg_icr = 0x044;  // interrupt clear

using FrRxEmpty = core::BitFlag<std::uint32_t, 4>;
using FrTxFull = core::BitFlag<std::uint32_t, 5>;
using FrBusy = core::BitFlag<std::uint32_t, 3>;
using CrUartEnable = core::BitFlag<std::uint32_t, 0>;
using CrTxEnable = core::BitFlag<std::uint32_t, 8>;
using CrRxEnable = core::BitFlag<std::uint32_t, 9>;
// Interrupt bits, the same in IMSC, MIS and ICR.
using IntRx = core::BitFlag<std::uint32_t, 4>;
using IntRxTimeout = core::BitFlag<std::uint32_t, 6>;
using LcrFifoEnable = core::BitFlag<std::uint32_t, 4>;
using LcrWordLength = core::BitField<std::uint32_t, 5, 2>;
inline constexpr std::uint32_t word_length_8 = 0b11;

inline constexpr const char* compatible = "arm,pl011";

} // namespace aos::arch::aarch64::pl011
