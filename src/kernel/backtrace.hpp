// Symbolized backtraces for panics and fault reports: frame-pointer walk plus a symbol table that the build
// generates from a first link of the kernel and links into the final image (tools/gen_kernel_symbols.py).
#pragma once

#include <cstdint>

namespace kernel {

struct KernelSymbol {
    std::uint64_t address;
    std::uint32_t name_offset; // into kernel_symbol_names
    std::uint32_t reserved;
};
static_assert(sizeof(KernelSymbol) == 16, "the generator writes this layout");

// The function containing pc ("?" when outside the kernel's text); offset receives pc - its start.
const char* symbolize(std::uint64_t pc, std::uint64_t& offset);

// Prints "  #n 0x... function+0xoff" for pc, then for each frame record reachable from fp.
void print_backtrace(std::uint64_t pc, std::uint64_t fp);

} // namespace kernel

// Defined by the generated table (the first link uses an empty one).
extern "C" {
extern const kernel::KernelSymbol kernel_symbols[];
extern const std::uint32_t kernel_symbol_count;
extern const char kernel_symbol_names[];
}
