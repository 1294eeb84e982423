// MMU bring-up: the kernel's page tables through aos::vm::PageTable for the upper half (TTBR1): the image
// with W^X, a direct map of RAM and the devices, all at physical address + kernel_virt_offset. The lower
// half (TTBR0) is left for user address spaces and walks nothing until one is installed.
#include "../../mmu.hpp"

#include "../../console.hpp"
#include "../../memory_layout.hpp"
#include "../../panic.hpp"
#include "sysreg.hpp"

#include <aos/arch/aarch64/mmu.hpp>
#include <aos/arch/aarch64/registers.hpp>
#include <aos/arch/page.hpp>

extern "C" {
extern char __kernel_start[];
extern char __text_end[];
extern char __rodata_start[];
extern char __rodata_end[];
extern char __data_start[];
extern char __kernel_end[];
}

namespace kernel {

namespace a64 = aos::arch::aarch64;

void KernelTlb::invalidate(std::uint64_t va, aos::vm::TlbScope scope) {
    // TLBI takes VA[55:12]; the kernel's mappings are global, so no ASID. The DSB makes the descriptor
    // change visible to the walkers before the invalidation.
    // The table works on 48-bit addresses; TLBI wants the real upper-half VA.
    std::uint64_t arg = a64::tlbi::by_va(upper_half(va));
    if (scope == aos::vm::TlbScope::leaf)
        __asm__ volatile("dsb ishst\n tlbi vale1is, %0" ::"r"(arg) : "memory");
    else
        __asm__ volatile("dsb ishst\n tlbi vae1is, %0" ::"r"(arg) : "memory");
}

void KernelTlb::invalidate_all() {
    __asm__ volatile("dsb ishst\n tlbi vmalle1is" ::: "memory");
}

void KernelTlb::publish() {
    __asm__ volatile("dsb ishst" ::: "memory");
}

void KernelTlb::sync() {
    __asm__ volatile("dsb ish\n isb" ::: "memory");
}

namespace {

// Enough for the image, RAM in 2 MiB blocks up to several GiB, the devices and the self tests.
constexpr unsigned table_frames = 64;
KernelTableBackend::Frame frame_store[table_frames];
KernelNodePool::Slot node_store[table_frames];
void* record_store[table_frames];

KernelTlb tlb;
// Constructed in mmu_init, before any other use (no static constructors for these).
alignas(KernelTableBackend) unsigned char backend_storage[sizeof(KernelTableBackend)];
alignas(KernelNodePool) unsigned char pool_storage[sizeof(KernelNodePool)];
alignas(KernelPageTable) unsigned char table_storage[sizeof(KernelPageTable)];
KernelPageTable* table = nullptr;

// A symbol's address in the kernel table's 48-bit terms (numerically its physical address).
std::uintptr_t addr(const char* symbol) {
    return table_address(reinterpret_cast<std::uintptr_t>(symbol));
}

// TTBR1 walks for the kernel, TTBR0 (user address spaces) off until one is installed; 48-bit VAs, 4 KiB
// granules, cacheable inner-shareable walks.
constexpr std::uint64_t kernel_tcr(std::uint64_t pa_range) {
    namespace tcr = a64::tcr;
    std::uint64_t r = 0;
    r = tcr::T0sz::set(r, tcr::tsz_for(KernelArch::va_bits));
    r = tcr::T1sz::set(r, tcr::tsz_for(KernelArch::va_bits));
    r = tcr::Tg0::set(r, tcr::tg0_4k);
    r = tcr::Tg1::set(r, tcr::tg1_4k);
    r = tcr::Irgn0::set(r, tcr::rgn_write_back_allocate);
    r = tcr::Orgn0::set(r, tcr::rgn_write_back_allocate);
    r = tcr::Irgn1::set(r, tcr::rgn_write_back_allocate);
    r = tcr::Orgn1::set(r, tcr::rgn_write_back_allocate);
    r = tcr::Sh0::set(r, a64::desc::sh_inner);
    r = tcr::Sh1::set(r, a64::desc::sh_inner);
    r = tcr::Ips::set(r, pa_range);
    return r;
}

void map_or_panic(KernelPageTable& pt, std::uint64_t base, std::uint64_t end, const a64::PageAttrs& attrs,
                  const char* what) {
    if (base >= end)
        return;
    if (aos::Result<void> r = pt.map(base, base, end - base, attrs); !r) {
        print("mmu: cannot map {} [{:x}, {:x}): {}\n", what, base, end, r.error());
        KERNEL_PANIC("kernel page tables");
    }
}

using aos::arch::page_down;
using aos::arch::page_up;

// Before the walker reads the tables through the (now enabled) cache, drop any stale lines for them: they
// were written with the MMU off, that is, uncached.
void invalidate_table_lines() {
    std::uint64_t line = a64::ctr::dcache_line_bytes(KERNEL_READ_SYSREG(ctr_el0));
    auto begin = reinterpret_cast<std::uintptr_t>(frame_store);
    auto end = begin + sizeof(frame_store);
    for (std::uintptr_t p = begin & ~(line - 1); p < end; p += line)
        __asm__ volatile("dc ivac, %0" ::"r"(p) : "memory");
    __asm__ volatile("dsb sy" ::: "memory");
}

} // namespace

KernelPageTable& kernel_page_table() {
    if (table == nullptr)
        KERNEL_PANIC("kernel page table used before mmu_init");
    return *table;
}

void mmu_init(const Platform& p) {
    std::uint64_t mmfr0 = KERNEL_READ_SYSREG(id_aa64mmfr0_el1);
    if (a64::mmfr0::TGran4::get(mmfr0) == a64::mmfr0::tgran4_absent)
        KERNEL_PANIC("the CPU has no 4 KiB translation granule");

    auto* backend = ::new (backend_storage) KernelTableBackend(
        {frame_store, table_frames}, 0 - kernel_virt_offset, tlb, {record_store, table_frames});
    auto* pool = ::new (pool_storage) KernelNodePool({node_store, table_frames});
    table = ::new (table_storage) KernelPageTable(*backend, *pool);
    KernelPageTable& pt = *table;
    if (!pt.init())
        KERNEL_PANIC("no root table");

    // W^X for the image: the linker script puts each part on its own pages.
    const a64::PageAttrs text{.kernel = a64::prot_rx};
    const a64::PageAttrs rodata{.kernel = a64::prot_read};
    const a64::PageAttrs data{.kernel = a64::prot_rw};
    const a64::PageAttrs device{
        .kernel = a64::prot_rw, .memory = a64::MemoryType::device, .share = a64::Shareability::non};
    map_or_panic(pt, addr(__kernel_start), addr(__text_end), text, "text");
    map_or_panic(pt, addr(__rodata_start), addr(__rodata_end), rodata, "rodata");
    map_or_panic(pt, addr(__data_start), addr(__kernel_end), data, "data");
    // The rest of RAM (device tree included) read-write, never executable; blocks where aligned.
    for (unsigned i = 0; i < p.ram_count; ++i) {
        std::uint64_t base = page_up(p.ram[i].base);
        std::uint64_t end = page_down(p.ram[i].base + p.ram[i].size);
        std::uint64_t image_lo = addr(__kernel_start), image_hi = addr(__kernel_end);
        if (image_lo < end && base < image_hi) {
            map_or_panic(pt, base, image_lo, data, "RAM");
            map_or_panic(pt, image_hi, end, data, "RAM");
        } else {
            map_or_panic(pt, base, end, data, "RAM");
        }
    }
    for (unsigned i = 0; i < p.mmio_count; ++i)
        map_or_panic(pt, page_down(p.mmio[i].base), page_up(p.mmio[i].base + p.mmio[i].size), device, "MMIO");
    if (!pt.check_invariants())
        KERNEL_PANIC("kernel page table invariants");

    invalidate_table_lines();
    std::uint64_t pa_range = a64::mmfr0::PaRange::get(mmfr0);
    KERNEL_WRITE_SYSREG(mair_el1, a64::mair::value);
    // Switch the upper half from the early blocks to these tables (both map the running code the same
    // way), then stop TTBR0 walks: the early identity map, null page included, is gone.
    KERNEL_WRITE_SYSREG(ttbr1_el1, a64::ttbr::make(pt.root_pa(), 0));
    KERNEL_WRITE_SYSREG(tcr_el1, a64::tcr::Epd0::set(kernel_tcr(pa_range), true));
    __asm__ volatile("isb\n tlbi vmalle1\n dsb nsh\n isb" ::: "memory");
    std::uint64_t sctlr = KERNEL_READ_SYSREG(sctlr_el1);
    sctlr = a64::sctlr::M::set(sctlr, true);
    sctlr = a64::sctlr::C::set(sctlr, true);
    sctlr = a64::sctlr::I::set(sctlr, true);
    sctlr = a64::sctlr::Wxn::set(sctlr, true); // writable never executes, whatever a descriptor says
    // A program that writes code and then maps it executable (mapping_protect) makes the instruction cache
    // see it itself, by VA, as on Linux: no system call per line.
    sctlr = a64::sctlr::Uct::set(sctlr, true);
    sctlr = a64::sctlr::Uci::set(sctlr, true);
    KERNEL_WRITE_SYSREG(sctlr_el1, sctlr);
    __asm__ volatile("isb" ::: "memory");
}

// boot.S turns the MMU on with constants of its own; they must say what the library says.
static_assert(EARLY_MAIR == a64::mair::value);
static_assert(EARLY_TCR == kernel_tcr(0), "boot.S's TCR_EL1 (before IPS) differs from mmu_init's");
static_assert(EARLY_BLOCK_NORMAL ==
              (a64::desc::Valid::mask |
               a64::desc::AttrIndx::make(static_cast<a64::Descriptor>(a64::MemoryType::normal)) |
               a64::desc::Sh::make(a64::desc::sh_inner) | a64::desc::Af::mask | a64::desc::Uxn::mask));
static_assert(EARLY_BLOCK_DEVICE ==
              (a64::desc::Valid::mask |
               a64::desc::AttrIndx::make(static_cast<a64::Descriptor>(a64::MemoryType::device)) |
               a64::desc::Af::mask | a64::desc::Pxn::mask | a64::desc::Uxn::mask));

} // namespace kernel
