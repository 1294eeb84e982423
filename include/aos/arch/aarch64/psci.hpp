// Power State Coordination Interface (Arm DEN 0022) function identifiers used by the kernel.
#pragma once

#include <cstdint>

namespace aos::arch::aarch64::psci {

inline constexpr std::uint32_t fn_version = 0x84000000;
inline constexpr std::uint32_t fn_cpu_off = 0x84000002;
inline constexpr std::uint32_t fn_cpu_on_64 = 0xc4000003;
inline constexpr std::uint32_t fn_system_off = 0x84000008;
inline constexpr std::uint32_t fn_system_reset = 0x84000009;

// Return codes (negative values in x0).
inline constexpr std::int64_t success = 0;
inline constexpr std::int64_t not_supported = -1;
inline constexpr std::int64_t invalid_parameters = -2;
inline constexpr std::int64_t denied = -3;
inline constexpr std::int64_t already_on = -4;

// How the firmware is called: the device tree's /psci "method" property names one.
enum class Conduit : std::uint8_t { none, hvc, smc };

} // namespace aos::arch::aarch64::psci
