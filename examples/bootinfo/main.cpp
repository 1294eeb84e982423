// Prints the bootinfo page the kernel gives init: core, free RAM, modules, command line.
#include "syscalls.hpp"

#include <aos/core/format.hpp>

namespace {
template <class... Args>
void say(const char* fmt, const Args&... args) {
    aos::core::FixedString<256> line;
    aos::core::format_to(line, fmt, args...);
    (void)aos::sys::debug_print(line.c_str(), line.size());
}
} // namespace

int main() {
    const aos::abi::BootInfo* bi = aos::sys::bootinfo();
    if (bi == nullptr) {
        say("bootinfo: none (not the first program)\n");
        return 1;
    }
    say("bootinfo: core {}, {} free RAM regions, {} modules\n", bi->core_id, bi->free_ram_count,
        bi->module_count);
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < bi->free_ram_count; ++i) {
        say("bootinfo: free RAM [{:x}, {:x})\n", bi->free_ram[i].base,
            bi->free_ram[i].base + bi->free_ram[i].size);
        total += bi->free_ram[i].size;
    }
    say("bootinfo: free RAM total {} KiB\n", total >> 10);
    for (std::uint32_t i = 0; i < bi->module_count; ++i) {
        const aos::abi::BootModule& m = bi->modules[i];
        say("bootinfo: module {} [{:x}, {:x})\n", static_cast<const char*>(m.name), m.base, m.base + m.size);
    }
    say("bootinfo: command line \"{}\"\n", static_cast<const char*>(bi->cmdline));
    return 0;
}
