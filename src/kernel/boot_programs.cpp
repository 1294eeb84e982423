// The programs the kernel starts itself: the boot frame allocator, loading a boot module's ELF image into a
// boot dispatcher's address space, and init's CSpace (with every free RAM range as a capability) and
// bootinfo page.
#include "caps.hpp"
#include "console.hpp"
#include "dispatch.hpp"
#include "dispatch_internal.hpp"
#include "dispatcher.hpp"
#include "memory_layout.hpp"
#include "mmu.hpp"

#include <aos/abi/capability.hpp>
#include <aos/arch/aarch64/mmu.hpp>
#include <aos/arch/aarch64/pl031.hpp>
#include <aos/arch/page.hpp>
#include <aos/proc/elf.hpp>

extern "C" {
extern char __kernel_end[];
}

namespace kernel {

namespace a64 = aos::arch::aarch64;

namespace {

// The boot frame allocator: hands out RAM above the kernel image, skipping the device tree. init will own
// memory through capabilities; this only feeds the programs the kernel itself starts.
struct BootFrames {
    std::uint64_t next = 0;
    std::uint64_t end = 0;
    std::uint64_t avoid_lo = 0;
    std::uint64_t avoid_hi = 0;

    aos::Result<std::uint64_t> alloc(std::uint64_t bytes) {
        bytes = aos::arch::page_up(bytes);
        if (next < avoid_hi && next + bytes > avoid_lo)
            next = avoid_hi;
        if (next + bytes > end || next + bytes < next)
            return aos::error(aos::Errc::no_memory);
        std::uint64_t pa = next;
        next += bytes;
        zero_physical(pa, bytes);
        return pa;
    }
};
constinit BootFrames frames;

a64::Prot prot_of(const aos::proc::SegmentPermissions& p) {
    return static_cast<a64::Prot>((p.read ? a64::prot_read : 0) | (p.write ? a64::prot_write : 0) |
                                  (p.execute ? a64::prot_exec : 0));
}

// The ELF loader policy: fresh frames per segment, filled through the direct map, then mapped for EL0.
struct SegmentLoader {
    Dispatcher& d;
    std::uint64_t pa = 0;
    aos::Result<std::uint8_t*> writable(const aos::proc::ElfSegment& s) {
        pa = AOS_TRY(frames.alloc(s.page_end() - s.page_start()));
        return reinterpret_cast<std::uint8_t*>(phys_to_virt(pa));
    }
    aos::Result<void> commit(const aos::proc::ElfSegment& s) {
        return d.table->map(s.page_start(), pa, s.page_end() - s.page_start(),
                            user_page_attrs(prot_of(s.perms)));
    }
};
static_assert(aos::proc::ElfLoader<SegmentLoader>);

} // namespace

aos::Result<std::uint64_t> boot_frames_alloc(std::uint64_t bytes) {
    return frames.alloc(bytes);
}

void boot_frames_init(const Platform& p) {
    std::uint64_t image_end = virt_to_phys(reinterpret_cast<std::uintptr_t>(__kernel_end));
    for (unsigned i = 0; i < p.ram_count; ++i) {
        if (image_end > p.ram[i].base && image_end <= p.ram[i].base + p.ram[i].size) {
            frames.next = image_end;
            frames.end = p.ram[i].base + p.ram[i].size;
        }
    }
    frames.avoid_lo = aos::arch::page_down(p.dtb_base);
    frames.avoid_hi = aos::arch::page_up(p.dtb_base + p.dtb_size);
}

aos::Result<unsigned> spawn_module(const aos::abi::ModuleTable& modules, aos::core::StringRef name,
                                   bool start) {
    if (name.size >= name_max)
        return aos::error(aos::Errc::invalid_argument);
    unsigned index = AOS_TRY(modules.find(name));
    const char* field = nullptr;
    aos::proc::ElfImage image = AOS_TRY(
        aos::proc::ElfImage::parse(modules.data(index), modules.size(index),
                                   {.lo = page, .hi = user_stack_top - user_stack_size - page}, &field));
    Dispatcher* d = AOS_TRY(new_dispatcher(name));
    SegmentLoader loader{*d};
    AOS_TRY(image.load(loader));
    std::uint64_t stack_pa = AOS_TRY(frames.alloc(user_stack_size));
    AOS_TRY(d->table->map(user_stack_top - user_stack_size, stack_pa, user_stack_size,
                          user_page_attrs(a64::prot_rw)));
    d->frame = TrapFrame{};
    d->frame.elr = image.entry();
    d->frame.spsr = a64::spsr::Mode::make(a64::spsr::mode_el0t); // interrupts unmasked
    d->frame.sp_el0 = user_stack_top;
    clear(d->cspace);
    if (start)
        make_runnable(*d);
    else
        d->state = DispatcherState::created;
    print("aos: {} {} (dispatcher {}, entry {:x})\n", start ? "started" : "loaded",
          static_cast<const char*>(d->name), d->id, image.entry());
    return d->id;
}

namespace {

// A fresh CNode from the boot allocator, its capability in `slot`.
aos::Result<Cte*> boot_cnode(Cte& slot, aos::abi::ObjType type, std::uint64_t slots) {
    std::uint64_t pa = AOS_TRY(frames.alloc(slots * aos::abi::cte_size));
    slot.cap = make_cnode_cap(type, pa, slots);
    return cnode_slots(slot.cap);
}

// init's CSpace: a root CNode with the task, slot-allocation, RAM ("super"), dispatchers, modules and
// devices CNodes.
struct InitCSpace {
    Cte* task = nullptr;
    Cte* super = nullptr;
    Cte* dispatchers = nullptr;
    Cte* modules = nullptr;
    Cte* devices = nullptr;
};

aos::Result<InitCSpace> build_init_cspace(Dispatcher& init) {
    using aos::abi::ObjType;
    Cte root;
    Cte* l1 = AOS_TRY(boot_cnode(root, ObjType::l1_cnode, aos::abi::init_root_slots));
    InitCSpace cs;
    cs.task = AOS_TRY(boot_cnode(l1[aos::abi::root_slot_task], ObjType::l2_cnode, aos::abi::l2_cnode_slots));
    AOS_TRY(boot_cnode(l1[aos::abi::root_slot_slot_alloc0], ObjType::l2_cnode, aos::abi::l2_cnode_slots));
    cs.super =
        AOS_TRY(boot_cnode(l1[aos::abi::root_slot_super], ObjType::l2_cnode, aos::abi::l2_cnode_slots));
    cs.dispatchers =
        AOS_TRY(boot_cnode(l1[aos::abi::root_slot_dispatchers], ObjType::l2_cnode, aos::abi::l2_cnode_slots));
    cs.modules =
        AOS_TRY(boot_cnode(l1[aos::abi::root_slot_modules], ObjType::l2_cnode, aos::abi::l2_cnode_slots));
    cs.devices =
        AOS_TRY(boot_cnode(l1[aos::abi::root_slot_devices], ObjType::l2_cnode, aos::abi::l2_cnode_slots));
    cs.task[aos::abi::task_slot_dispatcher].cap = dispatcher_cap(init);
    install_copy(cs.task[aos::abi::task_slot_root], root);
    // Its address space's root table, made by the kernel: init may map VNodes into the entries it left empty.
    cs.task[aos::abi::task_slot_root_vnode].cap = Capability{.type = ObjType::vnode_l0,
                                                             .rights = aos::abi::rights_all,
                                                             .base = init.table->root_pa(),
                                                             .size = aos::abi::vnode_bytes};
    install_copy(init.cspace, root);
    return cs;
}

// Adds [lo, hi) of one RAM range to the free list, if not empty.
void add_free(aos::abi::BootInfo& bi, std::uint64_t lo, std::uint64_t hi) {
    if (lo < hi && bi.free_ram_count < aos::abi::bootinfo_max_ram_regions)
        bi.free_ram[bi.free_ram_count++] = aos::abi::BootRegion{lo, hi - lo};
}

// Free: all RAM but what lies below the boot allocator's mark (QEMU's boot stub, the kernel image, what the
// kernel allocated for the programs) and the device tree. Call after the last boot allocation.
void describe_free_ram(aos::abi::BootInfo& bi, const Platform& p) {
    for (unsigned i = 0; i < p.ram_count; ++i) {
        std::uint64_t lo = p.ram[i].base, hi = p.ram[i].base + p.ram[i].size;
        if (frames.next > lo && frames.next <= hi)
            lo = frames.next;
        if (frames.avoid_lo >= lo && frames.avoid_hi <= hi) {
            add_free(bi, lo, frames.avoid_lo);
            add_free(bi, frames.avoid_hi, hi);
        } else {
            add_free(bi, lo, hi);
        }
    }
}

void describe_modules(aos::abi::BootInfo& bi, const aos::abi::ModuleTable& modules, const char* cmdline) {
    for (unsigned i = 0; i < modules.count() && i < aos::abi::module_max_count; ++i) {
        aos::abi::BootModule& m = bi.modules[bi.module_count++];
        for (std::size_t c = 0; c < aos::abi::module_name_max; ++c)
            m.name[c] = modules.name(i)[c];
        m.base = virt_to_phys(reinterpret_cast<std::uintptr_t>(modules.data(i)));
        m.size = modules.size(i);
    }
    std::size_t n = 0;
    for (; cmdline[n] != '\0' && n + 1 < aos::abi::bootinfo_cmdline_max; ++n)
        bi.cmdline[n] = cmdline[n];
    bi.cmdline[n] = '\0';
}

// The other programs: their dispatcher capabilities in init's dispatchers CNode, listed in bootinfo.
void describe_programs(aos::abi::BootInfo& bi, Cte* dispatchers_cnode, const LoadedProgram* programs,
                       unsigned count) {
    for (unsigned i = 0; i < count && i < aos::abi::bootinfo_max_programs; ++i) {
        const Dispatcher& d = *dispatcher_by_id(programs[i].id);
        dispatchers_cnode[i].cap = dispatcher_cap(d);
        aos::abi::BootProgram& p = bi.programs[bi.program_count++];
        static_assert(sizeof(p.name) <= name_max);
        for (std::size_t c = 0; c + 1 < sizeof(p.name) && d.name[c] != '\0'; ++c)
            p.name[c] = d.name[c];
        p.dispatcher = static_cast<std::uint32_t>(aos::abi::caddr(aos::abi::root_slot_dispatchers, i));
        p.started = programs[i].started ? 1 : 0;
    }
}

} // namespace

aos::Result<void> setup_init(unsigned id, const LoadedProgram* programs, unsigned count, const Platform& p,
                             const aos::abi::ModuleTable& modules, const char* cmdline) {
    Dispatcher* init = dispatcher_by_id(id);
    if (init == nullptr || count > aos::abi::bootinfo_max_programs)
        return aos::error(aos::Errc::invalid_argument);
    InitCSpace cs = AOS_TRY(build_init_cspace(*init));
    std::uint64_t pa = AOS_TRY(frames.alloc(sizeof(aos::abi::BootInfo)));
    auto& bi = *reinterpret_cast<aos::abi::BootInfo*>(phys_to_virt(pa));
    bi.magic = aos::abi::bootinfo_magic;
    bi.version = aos::abi::bootinfo_version;
    bi.core_id = 0;
    describe_free_ram(bi, p);
    for (std::uint32_t i = 0; i < bi.free_ram_count; ++i)
        AOS_TRY(install_original(cs.super[i], aos::abi::ObjType::ram, bi.free_ram[i].base,
                                 bi.free_ram[i].size, aos::abi::rights_all));
    for (std::uint32_t i = 0; i < modules.count() && i < aos::abi::l2_cnode_slots; ++i) {
        std::uint64_t base = virt_to_phys(reinterpret_cast<std::uintptr_t>(modules.data(i)));
        std::uint64_t size = aos::arch::page_up(modules.size(i));
        AOS_TRY(install_original(cs.modules[i], aos::abi::ObjType::frame, base, size, aos::abi::right_read));
    }
    cs.devices[aos::abi::device_slot_console].cap = Capability{
        .type = aos::abi::ObjType::console, .rights = aos::abi::right_read | aos::abi::right_grant};
    if (p.rtc_base != 0)
        AOS_TRY(install_original(cs.devices[aos::abi::device_slot_rtc], aos::abi::ObjType::dev_frame,
                                 p.rtc_base, aos::arch::aarch64::pl031::frame_bytes,
                                 aos::abi::right_read | aos::abi::right_write));
    describe_modules(bi, modules, cmdline);
    describe_programs(bi, cs.dispatchers, programs, count);
    AOS_TRY(init->table->map(aos::abi::bootinfo_user_address, pa, page, user_page_attrs(a64::prot_read)));
    init->frame.x[0] = aos::abi::bootinfo_user_address;
    return aos::ok();
}

} // namespace kernel
