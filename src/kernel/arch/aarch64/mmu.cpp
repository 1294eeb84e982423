// MMU bring-up: the kernel's page tables through aos::vm::PageTable, identity-mapped through TTBR0 (the
// upper-half move to TTBR1 comes with the kernel-core work), and the TLBI/DSB/ISB policy.
#include "../../mmu.hpp"

#include "../../console.hpp"
#include "../../panic.hpp"
#include "sysreg.hpp"

#include <aos/arch/aarch64/mmu.hpp>
#include <aos/arch/aarch64/registers.hpp>

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
    std::uint64_t arg = va >> KernelArch::page_shift;
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

std::uintptr_t addr(const char* symbol) {
    return reinterpret_cast<std::uintptr_t>(symbol);
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

std::uint64_t page_down(std::uint64_t x) {
    return x & ~(KernelArch::page_size - 1);
}
std::uint64_t page_up(std::uint64_t x) {
    return page_down(x + KernelArch::page_size - 1);
}

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

    auto* backend = ::new (backend_storage)
        KernelTableBackend({frame_store, table_frames}, 0, tlb, {record_store, table_frames});
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
    KERNEL_WRITE_SYSREG(mair_el1, a64::mair::value);
    KERNEL_WRITE_SYSREG(tcr_el1, a64::tcr::ttbr0_only_4k(a64::mmfr0::PaRange::get(mmfr0)));
    KERNEL_WRITE_SYSREG(ttbr0_el1, a64::ttbr::make(pt.root_pa(), 0));
    __asm__ volatile("isb\n tlbi vmalle1\n dsb nsh\n isb" ::: "memory");
    std::uint64_t sctlr = KERNEL_READ_SYSREG(sctlr_el1);
    sctlr = a64::sctlr::M::set(sctlr, true);
    sctlr = a64::sctlr::C::set(sctlr, true);
    sctlr = a64::sctlr::I::set(sctlr, true);
    sctlr = a64::sctlr::Wxn::set(sctlr, true); // writable never executes, whatever a descriptor says
    KERNEL_WRITE_SYSREG(sctlr_el1, sctlr);
    __asm__ volatile("isb" ::: "memory");
}

} // namespace kernel
