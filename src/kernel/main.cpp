// The boot core's C++ entry: read the device tree, bring up the console, print the banner, run what the
// command line asks for, and end the run.
#include "arch/aarch64/sysreg.hpp"
#include "console.hpp"
#include "dispatch.hpp"
#include "memory_layout.hpp"
#include "mmu.hpp"
#include "modules.hpp"
#include "panic.hpp"
#include "platform.hpp"
#include "power.hpp"
#include "selftest.hpp"
#include "timer.hpp"
#include "version.hpp"

#include <aos/arch/aarch64/qemu_virt.hpp>
#include <aos/arch/aarch64/registers.hpp>
#include <aos/boot/cmdline.hpp>
#include <aos/boot/fdt.hpp>

extern "C" {
extern char __kernel_start[];
extern char __kernel_end[];
using InitFn = void (*)();
extern InitFn __init_array_start[];
extern InitFn __init_array_end[];
}

namespace kernel {

namespace {

constexpr std::uint64_t mib = 1024 * 1024;
// The largest device tree accepted; QEMU's virt tree is about 1 MiB at most (it pads its blob to that).
constexpr std::size_t max_dtb_size = 2 * mib;

void run_static_constructors() {
    for (InitFn* fn = __init_array_start; fn != __init_array_end; ++fn)
        (*fn)();
}

constexpr unsigned max_programs = aos::abi::bootinfo_max_programs;

// Loads each module of a comma-separated list; `start` makes them runnable at once. Collects the loaded
// ones in `out`.
void load_programs(const aos::abi::ModuleTable& modules, aos::boot::StringRef names, bool start,
                   LoadedProgram* out, unsigned& count) {
    aos::boot::for_each_item(names, ',', [&](aos::boot::StringRef name) {
        if (count == max_programs) {
            print("aos: cannot load {}: more than {} programs\n", name, max_programs);
            return true;
        }
        aos::Result<unsigned> r = spawn_module(modules, name, start);
        if (!r)
            print("aos: cannot load {}: {}\n", name, r.error());
        else
            out[count++] = LoadedProgram{*r, start};
        return true;
    });
}

// Starts the boot modules named by run= (the first is init: it gets bootinfo and a CSpace holding the
// others' dispatcher capabilities), loads those named by load= for init to start, and runs them.
[[noreturn]] void run_programs(const Platform& p, aos::boot::StringRef run,
                               const aos::boot::CommandLine& cmdline) {
    aos::Result<aos::abi::ModuleTable> modules = boot_modules();
    if (!modules)
        KERNEL_PANIC("no readable boot-module table");
    dispatch_init();
    boot_frames_init(p);
    LoadedProgram programs[max_programs];
    unsigned count = 0;
    load_programs(*modules, run, true, programs, count);
    if (aos::Result<aos::boot::StringRef> load = cmdline.value("load"))
        load_programs(*modules, *load, false, programs, count);
    if (count > 0) {
        aos::Result<void> r =
            setup_init(programs[0].id, programs + 1, count - 1, p, *modules, cmdline.c_str());
        if (!r)
            print("aos: no CSpace or bootinfo for the first program: {}\n", r.error());
    }
    run_dispatchers(cmdline.number("quantum_ms").value_or(default_quantum_ms) * us_per_ms);
}

[[noreturn]] void fail_without_device_tree(const char* what, aos::Errc e, const char* field) {
    console_init(phys_to_virt(aos::arch::aarch64::qemu_virt::fallback_uart_base));
    print("aos: cannot boot: {}: {} ({})\n", what, e, field != nullptr ? field : "-");
    shutdown(ExitStatus::panic);
}

void print_banner(const Platform& p, std::uint64_t entry_current_el) {
    auto el = aos::arch::aarch64::CurrentElLevel::get(KERNEL_READ_SYSREG(CurrentEL));
    auto entry_el = aos::arch::aarch64::CurrentElLevel::get(entry_current_el);
    print("\naos {} ({}) - AArch64 capability microkernel\n", version::release, version::revision);
    print("  exception level  EL{} (entered at EL{})\n", el, entry_el);
    print("  cores            {}\n", p.cpu_count);
    for (unsigned i = 0; i < p.ram_count; ++i) {
        print("  RAM              [{:016x}, {:016x}) {} MiB\n", p.ram[i].base, p.ram[i].base + p.ram[i].size,
              p.ram[i].size / mib);
    }
    print("  RAM total        {} MiB\n", p.total_ram() / mib);
    print("  console          pl011 at {:x}, INTID {}\n", p.uart_base, p.uart_intid);
    print("  interrupts       GICv{} (distributor at {:x})\n", static_cast<unsigned>(p.gic.version),
          p.gic.distributor);
    print("  timer            {} Hz, INTID {}\n", timer_frequency(), p.timer_intid);
    print("  device tree      at {:x}, {} bytes\n", p.dtb_base, p.dtb_size);
    print("  kernel image     [{:x}, {:x}) linked at {:x}\n",
          virt_to_phys(reinterpret_cast<std::uintptr_t>(__kernel_start)),
          virt_to_phys(reinterpret_cast<std::uintptr_t>(__kernel_end)),
          reinterpret_cast<std::uintptr_t>(__kernel_start));
    print("  command line     \"{}\"\n", p.bootargs);
    print("  mmu              on, 4 KiB granule, kernel in the upper half via TTBR1, {} tables\n",
          kernel_page_table().table_count());
    aos::Result<aos::abi::ModuleTable> modules = boot_modules();
    if (!modules)
        print("  boot modules     unreadable table: {}\n", modules.error());
    else {
        print("  boot modules     {}\n", modules->count());
        print_boot_modules(*modules);
    }
}

} // namespace

[[noreturn]] void kernel_main(std::uint64_t dtb_address, std::uint64_t load_address,
                              std::uint64_t entry_current_el) {
    run_static_constructors();
    if (dtb_address == 0)
        fail_without_device_tree("no device tree in x0 (boot the flat Image, not the ELF)",
                                 aos::Errc::not_found, nullptr);
    const char* field = nullptr;
    // The early tables map the first GiB of RAM, where QEMU and the Linux boot protocol place the tree.
    const void* dtb = reinterpret_cast<const void*>(phys_to_virt(dtb_address));
    aos::Result<aos::boot::Fdt> fdt = aos::boot::Fdt::parse(dtb, max_dtb_size, &field);
    if (!fdt)
        fail_without_device_tree("device tree", fdt.error(), field);
    aos::Result<Platform> platform = discover_platform(*fdt);
    if (!platform)
        fail_without_device_tree("device tree lacks RAM or a console", platform.error(), nullptr);

    console_init(phys_to_virt(platform->uart_base));
    aos::boot::CommandLine cmdline(platform->bootargs);
    power_configure(platform->psci, cmdline.has_flag("semihosting"));
    if (phys_to_virt(load_address) != reinterpret_cast<std::uintptr_t>(__kernel_start))
        KERNEL_PANIC(
            "kernel loaded away from its link address; boot it with a loader that honours text_offset");

    mmu_init(*platform);
    GicConfig gic = platform->gic;
    gic.distributor = phys_to_virt(gic.distributor);
    gic.cpu_or_redistributor = phys_to_virt(gic.cpu_or_redistributor);
    if (aos::Result<void> g = gic_init(gic); !g)
        KERNEL_PANIC("interrupt controller: no redistributor for this core");
    timer_init(platform->timer_intid);
    gic_enable(platform->timer_intid);
    if (platform->uart_intid != 0)
        console_enable_input(platform->uart_intid);

    print_banner(*platform, entry_current_el);

    if (aos::Result<aos::boot::StringRef> test = cmdline.value("selftest"))
        shutdown(run_selftest(*test, cmdline));

    if (aos::Result<aos::boot::StringRef> programs = cmdline.value("run"))
        run_programs(*platform, *programs, cmdline);

    print("aos: boot complete; no program to run (run=NAME,NAME on the command line), powering off\n");
    shutdown(ExitStatus::success);
}

} // namespace kernel

extern "C" [[noreturn]] void kernel_main(std::uint64_t dtb_address, std::uint64_t load_address,
                                         std::uint64_t entry_current_el) {
    kernel::kernel_main(dtb_address, load_address, entry_current_el);
}
