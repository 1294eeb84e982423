// MMU self tests (`selftest=mmu-...`): the kernel's page tables, built by aos::vm::PageTable, checked on
// the real (emulated) MMU.
#pragma once

#include "power.hpp"

#include <aos/boot/cmdline.hpp>

namespace kernel {

// Runs the named MMU test and returns true, or returns false if the name is not an MMU test.
bool run_mmu_selftest(aos::boot::StringRef name, ExitStatus& status);

} // namespace kernel
