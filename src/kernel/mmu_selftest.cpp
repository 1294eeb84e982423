// MMU self tests. Each maps a test window far from RAM and devices (its own level-0 entry, so every table
// under it is created and reclaimed by the test), provokes what it checks and prints what the MMU reported.
#include "mmu_selftest.hpp"

#include "console.hpp"
#include "fault_probe.hpp"
#include "memory_layout.hpp"
#include "mmu.hpp"

#include <aos/arch/aarch64/mmu.hpp>
#include <aos/arch/aarch64/qemu_virt.hpp>
#include <aos/arch/aarch64/registers.hpp>

namespace kernel {

namespace {

namespace a64 = aos::arch::aarch64;

// 512 GiB into the upper half: level-0 index 1, untouched by the kernel's own mappings (the image, RAM and
// devices lie in the first 512 GiB of the upper half).
constexpr std::uint64_t window = upper_half(std::uint64_t{1} << KernelArch::shift(0));
constexpr std::uint64_t page = KernelArch::page_size;
// An offset inside the page, to show that FAR reports the exact byte address.
constexpr std::uint64_t probe_offset = 0x18;

alignas(page) unsigned char test_pages[2][page];

const a64::PageAttrs kernel_rw{.kernel = a64::prot_rw};
const a64::PageAttrs kernel_ro{.kernel = a64::prot_read};

std::uint64_t pa_of(const void* p) {
    return virt_to_phys(reinterpret_cast<std::uintptr_t>(p));
}

// Writes a `ret` at the start of `page` and makes it visible to instruction fetch.
void place_ret(unsigned char* page_start) {
    auto* code = reinterpret_cast<volatile std::uint32_t*>(page_start);
    *code = a64::insn::ret;
    __asm__ volatile("dc cvau, %0\n dsb ish\n ic ivau, %0\n dsb ish\n isb" ::"r"(code) : "memory");
}

bool check(bool ok, const char* what) {
    if (!ok)
        print("selftest: FAILED: {}\n", what);
    return ok;
}

bool map(std::uint64_t va, std::uint64_t pa, std::uint64_t size, const a64::PageAttrs& a) {
    aos::Result<void> r = kernel_page_table().map(table_address(va), pa, size, a);
    if (!r)
        print("selftest: map [{:x}, +{:x}) failed: {}\n", va, size, r.error());
    return static_cast<bool>(r);
}

bool unmap(std::uint64_t va, std::uint64_t size) {
    aos::Result<void> r = kernel_page_table().unmap(table_address(va), size);
    if (!r)
        print("selftest: unmap [{:x}, +{:x}) failed: {}\n", va, size, r.error());
    return static_cast<bool>(r);
}

// The hardware's own translation (AT S1E1R), to compare with the tree's.
std::uint64_t hardware_translate(std::uint64_t va) {
    std::uint64_t par;
    __asm__ volatile("at s1e1r, %1\n isb\n mrs %0, par_el1" : "=r"(par) : "r"(va) : "memory");
    if (a64::par::F::get(par))
        return ~std::uint64_t{0};
    return (a64::par::Pa::get(par) << KernelArch::page_shift) | (va & (page - 1));
}

void report_fault(const char* test, const FaultRecord& f) {
    auto status = a64::esr::Dfsc::get(f.esr);
    bool fetch = a64::esr::Ec::get(f.esr) == static_cast<a64::Reg>(a64::ExceptionClass::inst_abort_same);
    print("{}: {}, level {}, {}, FAR {:016x}\n", test, a64::fsc::name(status), status & a64::fsc::level_mask,
          fetch ? "fetch" : (a64::esr::Wnr::get(f.esr) ? "write" : "read"), f.far);
}

bool is_fault(const FaultRecord& f, std::uint64_t kind, std::uint64_t level, std::uint64_t far) {
    auto status = a64::esr::Dfsc::get(f.esr);
    return f.taken && (status & a64::fsc::kind_mask) == kind && (status & a64::fsc::level_mask) == level &&
           f.far == far;
}

bool alias() {
    auto* original = reinterpret_cast<volatile std::uint64_t*>(test_pages[0] + probe_offset);
    auto* aliased = reinterpret_cast<volatile std::uint64_t*>(window + probe_offset);
    if (!map(window, pa_of(test_pages[0]), page, kernel_rw))
        return false;
    constexpr std::uint64_t first = 0x0123'4567'89ab'cdef, second = 0xfedc'ba98'7654'3210;
    *aliased = first;
    std::uint64_t seen_original = *original;
    *original = second;
    std::uint64_t seen_alias = *aliased;
    print("mmu-alias: {:x} written at {:x} reads {:x} at {:x}\n", first,
          reinterpret_cast<std::uintptr_t>(aliased), seen_original,
          reinterpret_cast<std::uintptr_t>(original));
    print("mmu-alias: {:x} written at {:x} reads {:x} at {:x}\n", second,
          reinterpret_cast<std::uintptr_t>(original), seen_alias, reinterpret_cast<std::uintptr_t>(aliased));
    auto t = kernel_page_table().translate(table_address(window + probe_offset));
    std::uint64_t hw = hardware_translate(window + probe_offset);
    print("mmu-alias: AT S1E1R {:x}, tree {:x}\n", hw, t ? t->pa : 0);
    bool ok =
        check(seen_original == first && seen_alias == second, "alias reads what the other address wrote");
    ok =
        check(t && hw == t->pa && hw == pa_of(test_pages[0]) + probe_offset, "hardware and tree agree") && ok;
    return unmap(window, page) && ok;
}

bool read_only() {
    if (!map(window, pa_of(test_pages[0]), page, kernel_ro))
        return false;
    FaultRecord r = probe(window + probe_offset, Access::read);
    FaultRecord w = probe(window + probe_offset, Access::write, 1);
    report_fault("mmu-readonly", w);
    bool ok = check(!r.taken, "read of a read-only page works");
    ok = check(is_fault(w, a64::fsc::permission, 3, window + probe_offset) && a64::esr::Wnr::get(w.esr),
               "write raises a level-3 permission fault at the written address") &&
         ok;
    return unmap(window, page) && ok;
}

// Maps a page holding a `ret` with `attrs` and fetches from it at EL1, which must raise a level-3 permission
// fault (an instruction abort) at the page. The `ret` brings a wrongly allowed fetch back instead of letting
// it run wild.
bool fetch_refused(const char* test, const a64::PageAttrs& attrs, const char* what) {
    place_ret(test_pages[1]);
    if (!map(window, pa_of(test_pages[1]), page, attrs))
        return false;
    FaultRecord x = probe(window, Access::execute);
    report_fault(test, x);
    auto ec = static_cast<a64::ExceptionClass>(a64::esr::Ec::get(x.esr));
    bool ok = check(
        is_fault(x, a64::fsc::permission, 3, window) && ec == a64::ExceptionClass::inst_abort_same, what);
    return unmap(window, page) && ok;
}

bool no_execute() {
    return fetch_refused("mmu-nx", kernel_ro, "a kernel page without execute is not executable");
}

// A page of program code, mapped as the kernel maps one for EL0 (user_page_attrs): EL1 must not run it.
bool user_code() {
    return fetch_refused("mmu-user-code", user_page_attrs(a64::prot_rx),
                         "a user code page is not executable at EL1");
}

// The kernel's own image: text is not writable, data is not executable.
bool kernel_w_xor_x() {
    place_ret(test_pages[1]);
    auto text = reinterpret_cast<std::uintptr_t>(&run_mmu_selftest);
    FaultRecord w = probe(text, Access::write, 0);
    report_fault("mmu-wx text", w);
    auto data = reinterpret_cast<std::uintptr_t>(test_pages[1]);
    FaultRecord x = probe(data, Access::execute);
    report_fault("mmu-wx data", x);
    bool ok = check(is_fault(w, a64::fsc::permission, 3, text), "kernel text is read-only");
    return check(is_fault(x, a64::fsc::permission, 3, data), "kernel data is not executable") && ok;
}

bool unmapped() {
    std::size_t tables = kernel_page_table().table_count();
    if (!map(window, pa_of(test_pages[0]), 2 * page, kernel_rw))
        return false;
    bool ok = check(!probe(window + page + probe_offset, Access::read).taken, "mapped page reads");
    if (!unmap(window + page, page))
        return false;
    FaultRecord f3 = probe(window + page + probe_offset, Access::read);
    report_fault("mmu-unmap", f3);
    ok = ok && check(is_fault(f3, a64::fsc::translation, 3, window + page + probe_offset),
                     "access after unmap raises a level-3 translation fault");
    if (!unmap(window, page))
        return false;
    // The window's tables are gone: the walk now stops at level 0.
    FaultRecord f0 = probe(window + probe_offset, Access::read);
    report_fault("mmu-unmap", f0);
    ok = check(is_fault(f0, a64::fsc::translation, 0, window + probe_offset),
               "after the last page goes, the walk stops at level 0") &&
         ok;
    ok = check(kernel_page_table().table_count() == tables, "tables reclaimed") && ok;
    return ok;
}

bool reclaim() {
    KernelPageTable& pt = kernel_page_table();
    std::size_t before = pt.table_count();
    // Pages at both ends of a range crossing 1 GiB and 2 MiB boundaries, 2 MiB blocks in between, all
    // aliasing the same two pages.
    constexpr std::uint64_t gib = std::uint64_t{1} << KernelArch::shift(1);
    constexpr std::uint64_t mib2 = std::uint64_t{1} << KernelArch::shift(2);
    std::uint64_t base = window + gib - mib2 - page;
    bool ok = map(base, pa_of(test_pages[0]), page, kernel_rw) &&
              map(base + page, a64::qemu_virt::ram_base, 2 * mib2, kernel_ro) && // 2 MiB-aligned RAM
              map(base + page + 2 * mib2, pa_of(test_pages[1]), page, kernel_ro);
    std::size_t during = pt.table_count();
    ok = ok && check(!probe(base + page + mib2, Access::read).taken, "block mapping reads");
    ok = ok && unmap(base, 2 * mib2 + 2 * page);
    std::size_t after = pt.table_count();
    print("mmu-reclaim: tables {} before, {} mapped, {} after unmap\n", before, during, after);
    return check(during > before && after == before && pt.check_invariants(), "tables freed") && ok;
}

} // namespace

bool run_mmu_selftest(aos::boot::StringRef name, ExitStatus& status) {
    bool ok;
    if (name.equals("mmu-alias"))
        ok = alias();
    else if (name.equals("mmu-readonly"))
        ok = read_only();
    else if (name.equals("mmu-nx"))
        ok = no_execute();
    else if (name.equals("mmu-user-code"))
        ok = user_code();
    else if (name.equals("mmu-wx"))
        ok = kernel_w_xor_x();
    else if (name.equals("mmu-unmap"))
        ok = unmapped();
    else if (name.equals("mmu-reclaim"))
        ok = reclaim();
    else
        return false;
    ok = ok && check(kernel_page_table().check_invariants(), "invariants");
    print("selftest: {}\n", ok ? "pass" : "fail");
    status = ok ? ExitStatus::success : ExitStatus::test_failed;
    return true;
}

} // namespace kernel
