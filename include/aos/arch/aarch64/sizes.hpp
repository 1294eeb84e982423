// Memory-system sizes of the AArch64 cores aos targets (Cortex-A53/A57/A72 and QEMU's models), named once.
//
//   struct alignas(aos::arch::aarch64::cache_line_size) Slot { ... };
#pragma once

#include <cstddef>

namespace aos::arch::aarch64 {

// The data cache line (CTR_EL0.DminLine is 4 words = 64 bytes on every core we run on). Shared-memory
// structures put each writer's data on its own line so two cores never write the same line.
inline constexpr std::size_t cache_line_size = 64;

} // namespace aos::arch::aarch64
