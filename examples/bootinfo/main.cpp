// Prints the bootinfo page the kernel gives init: core, free RAM, modules, command line.
#include "print.hpp"

int main() {
    const aos::abi::BootInfo* bi = aos::sys::bootinfo();
    if (bi == nullptr) {
        aos::sys::print("bootinfo: none (not the first program)\n");
        return 1;
    }
    aos::sys::print("bootinfo: core {}, {} free RAM regions, {} modules\n", bi->core_id, bi->free_ram_count,
                    bi->module_count);
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < bi->free_ram_count; ++i) {
        aos::sys::print("bootinfo: free RAM [{:x}, {:x})\n", bi->free_ram[i].base,
                        bi->free_ram[i].base + bi->free_ram[i].size);
        total += bi->free_ram[i].size;
    }
    aos::sys::print("bootinfo: free RAM total {} KiB\n", total >> 10);
    for (std::uint32_t i = 0; i < bi->module_count; ++i) {
        const aos::abi::BootModule& m = bi->modules[i];
        aos::sys::print("bootinfo: module {} [{:x}, {:x})\n", static_cast<const char*>(m.name), m.base,
                        m.base + m.size);
    }
    aos::sys::print("bootinfo: command line \"{}\"\n", static_cast<const char*>(bi->cmdline));
    return 0;
}
