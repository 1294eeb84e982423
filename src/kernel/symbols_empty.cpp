// The symbol table of the first link: empty. The final image links the generated table instead; both live in
// .ksyms, after the kernel's text and data, so swapping them moves no function.
#include "backtrace.hpp"

extern "C" {
[[gnu::section(".ksyms.table")]] const kernel::KernelSymbol kernel_symbols[1] = {{0, 0, 0}};
[[gnu::section(".ksyms.count")]] const std::uint32_t kernel_symbol_count = 0;
[[gnu::section(".ksyms.names")]] const char kernel_symbol_names[1] = {0};
}
