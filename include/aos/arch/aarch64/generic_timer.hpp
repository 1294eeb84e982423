// Arm generic timer (Arm DDI 0487, chapter D11): the EL1 physical timer's control bits and the
// device-tree interrupt order that names its PPI.
#pragma once

#include <aos/core/bitfield.hpp>

#include <cstdint>

namespace aos::arch::aarch64::generic_timer {

using CtlEnable = core::BitFlag<std::uint64_t, 0>;
using CtlImask = core::BitFlag<std::uint64_t, 1>;
using CtlIstatus = core::BitFlag<std::uint64_t, 2>;

// CNTKCTL_EL1: what EL0 may read; the virtual counter (and CNTFRQ_EL0 with it) lets programs time themselves.
using CntkctlEl0Vcten = core::BitFlag<std::uint64_t, 1>;

inline constexpr const char* compatible = "arm,armv8-timer";
// "interrupts" of the timer node lists: secure physical, non-secure physical, virtual, hypervisor.
inline constexpr unsigned dt_index_el1_physical = 1;
// The PPI QEMU's virt board and most SoCs use for the non-secure EL1 physical timer (INTID 30); used only
// when the device tree does not say.
inline constexpr std::uint32_t default_el1_physical_intid = 30;

} // namespace aos::arch::aarch64::generic_timer
