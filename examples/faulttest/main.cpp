// A test init for user-level page faults: a region is reserved but not backed, and the page-fault handler
// backs each page on first touch with a frame retyped from RAM, then resumes the faulting instruction.
// `faulttest=null` on the command line then dereferences null (the handler gives up: the kernel stops it);
// `faulttest=nested` makes the handler itself fault (the kernel stops it without calling the handler again).
#include "cap_vspace.hpp"
#include "print.hpp"

#include <aos/boot/cmdline.hpp>

namespace {

using namespace aos::abi;

constexpr std::uint64_t page = object_granule;
// The lazily backed region: 64 pages at 1 TiB (L0 entry 2, left empty by the kernel).
constexpr std::uint64_t lazy_base = std::uint64_t{2} << 39;
constexpr std::uint64_t lazy_pages = 64;
// Touching this page makes the handler fault (the nested test).
constexpr std::uint64_t nested_trigger = lazy_base + lazy_pages * page;

alignas(16) unsigned char handler_stack[16 * 1024];

// What the handler needs, set up by main before the first fault.
struct Lazy {
    aos::user::SlotAllocator* slots;
    aos::user::RamSource* ram;
    aos::user::CapVSpace* self;
    unsigned faults;
};
constinit Lazy lazy{};

[[noreturn]] void on_fault(std::uint64_t far, std::uint64_t esr, std::uint64_t elr) {
    if (far == nested_trigger) {
        aos::sys::print("faulttest: faulting inside the handler\n");
        *reinterpret_cast<volatile int*>(far) = 1; // unbacked, and we are in the handler
    }
    if (far < lazy_base || far >= lazy_base + lazy_pages * page) {
        aos::sys::print("faulttest: fault at {:x} (ESR {:x}, ELR {:x}) outside the reservation: giving up\n",
                        far, esr, elr);
        aos::sys::fault_give_up();
    }
    aos::Result<aos::user::SlotAllocator::Slot> frame = lazy.ram->retype(*lazy.slots, ObjType::frame, page);
    if (!frame ||
        !lazy.self->map(far & ~(page - 1), frame->addr(), page, right_read | right_write, nullptr)) {
        aos::sys::print("faulttest: cannot back {:x}\n", far);
        aos::sys::fault_give_up();
    }
    ++lazy.faults;
    // Wipe every FP/SIMD register: the faulting code's values must come back from the kernel's copy.
    __asm__ volatile(
        "movi v0.2d, #0\n movi v1.2d, #0\n movi v2.2d, #0\n movi v3.2d, #0\n movi v4.2d, #0\n"
        "movi v5.2d, #0\n movi v6.2d, #0\n movi v7.2d, #0\n movi v8.2d, #0\n movi v9.2d, #0\n"
        "movi v10.2d, #0\n movi v11.2d, #0\n movi v12.2d, #0\n movi v13.2d, #0\n movi v14.2d, #0\n"
        "movi v15.2d, #0\n movi v16.2d, #0\n movi v17.2d, #0\n movi v18.2d, #0\n movi v19.2d, #0\n"
        "movi v20.2d, #0\n movi v21.2d, #0\n movi v22.2d, #0\n movi v23.2d, #0\n movi v24.2d, #0\n"
        "movi v25.2d, #0\n movi v26.2d, #0\n movi v27.2d, #0\n movi v28.2d, #0\n movi v29.2d, #0\n"
        "movi v30.2d, #0\n movi v31.2d, #0" ::
            : "memory");
    aos::sys::fault_resume();
}

} // namespace

int main() {
    const BootInfo* bi = aos::sys::require_bootinfo("faulttest");
    if (bi == nullptr)
        return 2;
    aos::user::SlotAllocator slots(root_slot_slot_alloc0);
    aos::user::RamSource ram(caddr(root_slot_super, 0), 0, bi->free_ram[0].size);
    aos::user::CapVSpace self(caddr(root_slot_task, task_slot_root_vnode), slots, ram);
    lazy = Lazy{&slots, &ram, &self, 0};
    if (!aos::sys::set_fault_handler(&on_fault, handler_stack + sizeof(handler_stack))) {
        aos::sys::print("faulttest: cannot register the handler\n");
        return 1;
    }

    // Every other page, written and then read back: 32 faults, none for the pages in between.
    auto* words = reinterpret_cast<volatile std::uint64_t*>(lazy_base);
    constexpr std::uint64_t words_per_page = page / sizeof(std::uint64_t);
    for (std::uint64_t p = 0; p < lazy_pages; p += 2)
        words[p * words_per_page + p] = p * 0x1234567 + 9;
    bool intact = true;
    for (std::uint64_t p = 0; p < lazy_pages; p += 2)
        intact = intact && words[p * words_per_page + p] == p * 0x1234567 + 9;
    aos::sys::print("faulttest: {} pages touched, {} faults, contents {}\n", lazy_pages / 2, lazy.faults,
                    intact ? "intact" : "WRONG");
    // A double kept in a register across a fault (the handler wipes every FP register; the kernel restores
    // them).
    volatile double x = 1.5;
    double y = x * 3.0;
    words[(lazy_pages - 1) * words_per_page] = 1; // one more fault, with y live in an FP register
    aos::sys::print("faulttest: floating point across a fault {}\n", y * 2.0 == 9.0 ? "intact" : "WRONG");

    aos::boot::CommandLine cmdline(bi->cmdline);
    aos::Result<aos::boot::StringRef> mode = cmdline.value("faulttest");
    if (mode && mode->equals("null")) {
        aos::sys::print("faulttest: dereferencing null\n");
        return *reinterpret_cast<volatile int*>(std::uintptr_t{0});
    }
    if (mode && mode->equals("nested")) {
        *reinterpret_cast<volatile int*>(nested_trigger) = 1;
        aos::sys::print("faulttest: survived a fault in the handler (WRONG)\n");
        return 1;
    }
    return intact ? 0 : 1;
}
