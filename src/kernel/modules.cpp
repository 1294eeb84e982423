// The boot modules packed into the kernel image: found, validated and listed.
#include "modules.hpp"

#include "console.hpp"
#include "memory_layout.hpp"

#include <aos/proc/elf.hpp>

#include <cstdint>

extern "C" {
extern const std::uint8_t boot_modules_start[];
extern const std::uint8_t boot_modules_end[];
}

namespace kernel {

aos::Result<aos::abi::ModuleTable> boot_modules() {
    return aos::abi::ModuleTable::parse(boot_modules_start,
                                        static_cast<std::size_t>(boot_modules_end - boot_modules_start));
}

void print_boot_modules(const aos::abi::ModuleTable& table) {
    for (unsigned i = 0; i < table.count(); ++i) {
        std::uint64_t base = virt_to_phys(reinterpret_cast<std::uintptr_t>(table.data(i)));
        print("  module {:8} [{:x}, {:x}) {} bytes", table.name(i), base, base + table.size(i),
              table.size(i));
        const char* field = nullptr;
        aos::Result<aos::proc::ElfImage> elf =
            aos::proc::ElfImage::parse(table.data(i), table.size(i), {}, &field);
        if (elf)
            print(", entry {:x}, {} segments\n", elf->entry(), elf->segment_count());
        else
            print(", not a loadable program: {} ({})\n", elf.error(), field);
    }
}

} // namespace kernel
