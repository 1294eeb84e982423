// Symbolized backtraces: a frame-pointer walk (the kernel is built with frame pointers) and a binary search
// in the generated symbol table.
#include "backtrace.hpp"

#include "console.hpp"

extern "C" {
extern char __kernel_start[];
extern char __kernel_end[];
extern char __text_end[];
}

namespace kernel {

namespace {

constexpr unsigned max_frames = 32;
constexpr std::uint64_t frame_record_alignment = 16;

bool in_kernel_text(std::uint64_t pc) {
    return pc >= reinterpret_cast<std::uintptr_t>(__kernel_start) &&
           pc < reinterpret_cast<std::uintptr_t>(__text_end);
}

// Frame records live on kernel stacks, which are inside the kernel image (BSS) today.
bool plausible_frame(std::uint64_t fp) {
    return fp % frame_record_alignment == 0 && fp >= reinterpret_cast<std::uintptr_t>(__kernel_start) &&
           fp + frame_record_alignment <= reinterpret_cast<std::uintptr_t>(__kernel_end);
}

} // namespace

const char* symbolize(std::uint64_t pc, std::uint64_t& offset) {
    offset = 0;
    if (!in_kernel_text(pc) || kernel_symbol_count == 0 || pc < kernel_symbols[0].address)
        return "?";
    std::uint32_t lo = 0, hi = kernel_symbol_count; // find the last symbol with address <= pc
    while (hi - lo > 1) {
        std::uint32_t mid = lo + (hi - lo) / 2;
        if (kernel_symbols[mid].address <= pc)
            lo = mid;
        else
            hi = mid;
    }
    offset = pc - kernel_symbols[lo].address;
    return kernel_symbol_names + kernel_symbols[lo].name_offset;
}

void print_backtrace(std::uint64_t pc, std::uint64_t fp) {
    print("  backtrace:\n");
    for (unsigned depth = 0; depth < max_frames; ++depth) {
        std::uint64_t offset = 0;
        const char* name = symbolize(pc, offset);
        print("    #{} {:016x} {}+{:x}\n", depth, pc, name, offset);
        if (!plausible_frame(fp))
            return;
        const auto* record = reinterpret_cast<const std::uint64_t*>(fp);
        std::uint64_t next_fp = record[0];
        // The saved link register is the return address: step back into the call instruction.
        pc = record[1] - 4;
        if (record[1] == 0 || next_fp <= fp)
            return; // the outermost frame, or a corrupt chain that would loop
        fp = next_fp;
    }
}

} // namespace kernel
