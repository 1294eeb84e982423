// The boot modules packed into the kernel image: found, validated (table and each module's ELF) and listed.
#pragma once

#include <aos/abi/modules.hpp>
#include <aos/core/result.hpp>

namespace kernel {

aos::Result<aos::abi::ModuleTable> boot_modules();
// Prints each module with its physical range and ELF summary; a module that is not a loadable AArch64
// program is reported as such.
void print_boot_modules(const aos::abi::ModuleTable& table);

} // namespace kernel
