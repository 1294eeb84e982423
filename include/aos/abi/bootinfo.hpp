// The bootinfo page the kernel hands the first program it starts (init): the RAM the kernel does not use
// (free_ram[i]'s RAM capability is at caddr(root_slot_super, i)), the boot modules with their physical
// ranges, the kernel command line, the core, and the other programs the kernel loaded with the addresses of
// their dispatcher capabilities. Mapped read-only in
// init's address space; the address arrives in x0 at entry (src/lib keeps it: aos::sys::bootinfo()).
//
//   const aos::abi::BootInfo* bi = aos::sys::bootinfo();
//   for (std::uint32_t i = 0; i < bi->free_ram_count; ++i) add_ram(bi->free_ram[i].base,
//   bi->free_ram[i].size);
#pragma once

#include <aos/abi/modules.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::abi {

inline constexpr std::uint64_t bootinfo_magic = 0x4f464e49544f4f42; // "BOOTINFO" little endian
inline constexpr std::uint32_t bootinfo_version = 2;
inline constexpr std::uint32_t bootinfo_max_ram_regions = 16;
inline constexpr std::size_t bootinfo_cmdline_max = 1024;
inline constexpr std::uint32_t bootinfo_max_programs = 16;
// Where the page appears in init's address space: below the 0x400000 programs are linked at.
inline constexpr std::uint64_t bootinfo_user_address = 0x200000;

struct BootRegion {
    std::uint64_t base;
    std::uint64_t size;
};

struct BootModule {
    char name[module_name_max];
    std::uint64_t base; // physical
    std::uint64_t size;
};

// A program the kernel loaded besides init (run= starts it, load= leaves it for init to start).
struct BootProgram {
    char name[module_name_max];
    std::uint32_t dispatcher; // capability address (two-level) of its dispatcher in init's CSpace
    std::uint32_t started;    // 1 when the kernel started it, 0 when it waits for dispatcher_start
};

struct BootInfo {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t core_id;
    std::uint32_t free_ram_count;
    std::uint32_t module_count;
    BootRegion free_ram[bootinfo_max_ram_regions]; // RAM nobody uses yet: init's to manage
    BootModule modules[module_max_count];
    char cmdline[bootinfo_cmdline_max]; // NUL-terminated, truncated if longer
    std::uint32_t program_count;
    std::uint32_t reserved;
    BootProgram programs[bootinfo_max_programs];
};

// The layout is shared by the kernel and every init: pin it.
static_assert(sizeof(BootRegion) == 16);
static_assert(sizeof(BootModule) == 48);
static_assert(offsetof(BootInfo, free_ram) == 24);
static_assert(offsetof(BootInfo, modules) == 24 + 16 * bootinfo_max_ram_regions);
static_assert(sizeof(BootProgram) == 40);
static_assert(offsetof(BootInfo, programs) ==
              offsetof(BootInfo, cmdline) + bootinfo_cmdline_max + 2 * sizeof(std::uint32_t));
static_assert(sizeof(BootInfo) <= 4096, "one page");

} // namespace aos::abi
