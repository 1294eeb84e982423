// Formatted output for user programs: aos::core::format_to into a line buffer, then the kernel's debug print.
//
//   aos::sys::print("spin {}: round {} of {}\n", tag, r, rounds);
#pragma once

#include "syscalls.hpp"

#include <aos/core/format.hpp>

namespace aos::sys {

// One call, one debug_print: lines from different programs do not interleave mid-line. Longer text is cut at
// the buffer's size.
inline constexpr std::size_t print_line_max = 256;

template <class... Args>
void print(const char* fmt, const Args&... args) {
    core::FixedString<print_line_max> line;
    core::format_to(line, fmt, args...);
    (void)debug_print(line.c_str(), line.size());
}

} // namespace aos::sys
