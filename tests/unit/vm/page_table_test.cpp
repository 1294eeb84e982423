// aos::vm::PageTable against an independent software walker that reads only the raw descriptors, written
// from the Arm ARM's VMSAv8-64 description (4 KiB granule, 48-bit VA, D8.3), and a plain reference map.
#include "arch/raw_descriptor.hpp"
#include "catch.hpp"
#include "hosted_page_table.hpp"
#include "test_support.hpp"

#include <aos/vm/page_table.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <vector>

namespace {

namespace a64 = aos::arch::aarch64;
using Arch = aos::testing::HostedPageTable::Arch;
using Backend = aos::testing::HostedPageTable::Backend;
using Pt = aos::testing::HostedPageTable::Pt;

constexpr std::uint64_t kib4 = 4096;
constexpr std::uint64_t mib2 = 2ull << 20;
constexpr std::uint64_t gib1 = 1ull << 30;
constexpr std::uint64_t gib512 = 512ull << 30;

// Tables, records and the tree over them, initialised.
struct Fixture : aos::testing::HostedPageTable {
    explicit Fixture(std::size_t frames = 256, bool records = true) : HostedPageTable(frames, records) {
        REQUIRE(pt.init());
    }
};

// ---- The independent walker: raw bits only ----------------------------------------------------------------

// Cheap checks for the hot loops (REQUIRE records every success, which is too slow here).
// The failure path is out of line so the hot functions keep small stack frames.
[[gnu::noinline]] void fail_check(const char* what, int line) {
    FAIL("failed at line " << line << ": " << what);
}
#define FAST_REQUIRE(cond)                                                                                   \
    do {                                                                                                     \
        if (!(cond)) [[unlikely]]                                                                            \
            fail_check(#cond, __LINE__);                                                                     \
    } while (0)

// What translates `va`: a leaf, or the invalid entry (hole) that stops the walk.
struct HwEntry {
    bool mapped;
    std::uint64_t base; // VA where the leaf or hole starts
    std::uint64_t size;
    std::uint64_t pa; // of the leaf's start
    a64::PageAttrs attrs;
};

// The walk the MMU does from the root table's physical address (D8.2: 4 KiB granule, 48-bit VA, start at
// level 0, 9 index bits per level).
HwEntry walk(const Backend& b, std::uint64_t root_pa, std::uint64_t va) {
    constexpr std::uint64_t oa_mask = 0x0000'ffff'ffff'f000ull;
    std::uint64_t table = root_pa;
    for (unsigned level = 0; level < 4; ++level) {
        const auto* frame = b.frame_at(table);
        FAST_REQUIRE(frame != nullptr);
        unsigned shift = 39 - 9 * level;
        std::uint64_t size = 1ull << shift;
        std::uint64_t d = frame->entry[(va >> shift) & 511];
        if ((d & 1) == 0)
            return HwEntry{false, va & ~(size - 1), size, 0, {}};
        bool bit1 = (d & 2) != 0;
        if (level < 3 && bit1) {
            table = d & oa_mask;
            continue;
        }
        FAST_REQUIRE((level == 3) == bit1);            // L3 with bit 1 clear is reserved
        FAST_REQUIRE(level != 0);                      // no L0 blocks without LPA2
        FAST_REQUIRE(((d >> 10) & 1) == 1);            // AF set, or the first access faults
        FAST_REQUIRE(((d >> 52) & 1) == 0);            // no contiguous hint
        FAST_REQUIRE((d & oa_mask & (size - 1)) == 0); // a block's low output bits are RES0
        return HwEntry{true, va & ~(size - 1), size, d & oa_mask, aos_test::attrs_from_bits(d)};
    }
    fail_check("walk fell off the last level", __LINE__);
    return {};
}

// ---- The reference: disjoint intervals
// ----------------------------------------------------------------------

struct Interval {
    std::uint64_t end;
    std::uint64_t pa;
    a64::PageAttrs attrs;
};
using Model = std::map<std::uint64_t, Interval>; // start -> interval

// Splits the interval containing `at` so that an interval starts there.
void cut(Model& m, std::uint64_t at) {
    auto it = m.upper_bound(at);
    if (it == m.begin())
        return;
    --it;
    if (it->first < at && at < it->second.end) {
        Interval tail{it->second.end, it->second.pa + (at - it->first), it->second.attrs};
        it->second.end = at;
        m.emplace(at, tail);
    }
}
// Cuts the intervals at va and end; returns the first interval inside [va, end).
Model::iterator carve(Model& m, std::uint64_t va, std::uint64_t end) {
    cut(m, va);
    cut(m, end);
    return m.lower_bound(va);
}
bool model_any(const Model& m, std::uint64_t va, std::uint64_t end) {
    auto it = m.upper_bound(va);
    if (it != m.begin() && std::prev(it)->second.end > va)
        return true;
    return it != m.end() && it->first < end;
}
bool model_all(const Model& m, std::uint64_t va, std::uint64_t end) {
    auto it = m.upper_bound(va);
    if (it == m.begin())
        return false;
    --it;
    for (std::uint64_t p = va; p < end; ++it) {
        if (it == m.end() || it->first > p || it->second.end <= p)
            return false;
        p = it->second.end;
    }
    return true;
}

// Walker and model agree on [va, end): every leaf piece is in the model with the same pa and attributes,
// every hole is absent from the model.
void check_range(const Fixture& f, const Model& m, std::uint64_t va, std::uint64_t end) {
    // The first interval that ends after va; advanced alongside p.
    auto it = m.upper_bound(va);
    if (it != m.begin() && std::prev(it)->second.end > va)
        --it;
    for (std::uint64_t p = va; p < end;) {
        HwEntry hw = walk(f.backend, f.pt.root_pa(), p);
        std::uint64_t stop = std::min(hw.base + hw.size, end);
        if (!hw.mapped) {
            FAST_REQUIRE(it == m.end() || it->first >= stop);
            p = stop;
            continue;
        }
        while (p < stop) {
            FAST_REQUIRE(it != m.end() && it->first <= p && p < it->second.end);
            FAST_REQUIRE(it->second.pa + (p - it->first) == hw.pa + (p - hw.base));
            FAST_REQUIRE(it->second.attrs == hw.attrs);
            p = std::min(it->second.end, stop);
            if (p == it->second.end)
                ++it;
        }
    }
}

const a64::PageAttrs kernel_rw{.kernel = a64::prot_rw};
const a64::PageAttrs kernel_ro{.kernel = a64::prot_read};
const a64::PageAttrs kernel_rx{.kernel = a64::prot_rx};
const a64::PageAttrs user_rw{.kernel = a64::prot_rw, .user = a64::prot_rw, .global = false};
const a64::PageAttrs device{
    .kernel = a64::prot_rw, .memory = a64::MemoryType::device, .share = a64::Shareability::non};

} // namespace

TEST_CASE("map uses the largest leaf alignment allows, unless blocks are forbidden") {
    Fixture f;
    REQUIRE(f.pt.map(gib1, 2 * gib1, gib1, kernel_rw));
    REQUIRE(f.pt.table_count() == 2); // root + one L1 table holding a single block descriptor
    auto t = f.pt.translate(gib1 + 0x1234);
    REQUIRE(t);
    REQUIRE(t->level == 1);
    REQUIRE(t->pa == 2 * gib1 + 0x1234);
    REQUIRE(t->attrs == kernel_rw);

    // 2 MiB-aligned VA and PA: blocks in the middle, pages at the unaligned ends.
    REQUIRE(f.pt.map(4 * gib1 - kib4, 8 * gib1 - kib4, 4 * mib2 + 2 * kib4, kernel_ro));
    REQUIRE(f.pt.translate(4 * gib1 - kib4)->level == 3);
    REQUIRE(f.pt.translate(4 * gib1)->level == 2);
    REQUIRE(f.pt.translate(4 * gib1 + 4 * mib2)->level == 3);
    REQUIRE(f.pt.translate(4 * gib1 + 4 * mib2)->pa == 8 * gib1 + 4 * mib2);

    // VA and PA aligned differently: pages only.
    REQUIRE(f.pt.map(16 * gib1, 32 * gib1 + kib4, mib2, kernel_rw));
    REQUIRE(f.pt.translate(16 * gib1)->level == 3);

    REQUIRE(f.pt.map(20 * gib1, 20 * gib1, 64 * mib2, kernel_rw, aos::vm::Blocks::forbidden));
    REQUIRE(f.pt.translate(20 * gib1 + 64 * mib2 - 1)->level == 3);
    REQUIRE(f.pt.translate(20 * gib1 + 64 * mib2 - 1)->pa == 20 * gib1 + 64 * mib2 - 1);
    REQUIRE(f.pt.check_invariants());
}

TEST_CASE("map crosses table boundaries at every level") {
    Fixture f;
    std::uint64_t va = gib512 - gib1 - mib2 - kib4; // ends below 512 GiB in an L3, L2 and L1 table
    std::uint64_t size = 2 * (gib1 + mib2 + kib4);
    REQUIRE(f.pt.map(va, va, size, kernel_rw));
    for (std::uint64_t p : {va, gib512 - gib1 - mib2, gib512 - gib1, gib512 - kib4, gib512, gib512 + gib1,
                            gib512 + gib1 + mib2, va + size - kib4}) {
        REQUIRE(f.pt.translate(p)->pa == p);
    }
    REQUIRE(f.pt.translate(va + size).error() == aos::Errc::not_found);
    REQUIRE(f.pt.translate(va - 1).error() == aos::Errc::not_found);
    REQUIRE(f.pt.check_invariants());
    REQUIRE(f.pt.unmap(va, size));
    REQUIRE(f.pt.table_count() == 1);
    REQUIRE(f.backend.used() == 1);
    REQUIRE(f.pool.used() == 1);
    REQUIRE(f.pt.check_invariants());
}

TEST_CASE("bad arguments are rejected precisely and change nothing") {
    Fixture f;
    REQUIRE(f.pt.map(gib1, gib1, mib2, kernel_rw));
    auto before_tables = f.pt.table_count();
    auto before = *f.pt.translate(gib1);
    using E = aos::Errc;
    REQUIRE(f.pt.map(0, 0, 0, kernel_rw).error() == E::zero_size);
    REQUIRE(f.pt.map(1, 0, kib4, kernel_rw).error() == E::misaligned);
    REQUIRE(f.pt.map(0, 1, kib4, kernel_rw).error() == E::misaligned);
    REQUIRE(f.pt.map(0, 0, 100, kernel_rw).error() == E::misaligned);
    REQUIRE(f.pt.map(~0ull - kib4 + 1, 0, 2 * kib4, kernel_rw).error() == E::overflow);
    REQUIRE(f.pt.map(1ull << 48, 0, kib4, kernel_rw).error() == E::out_of_range);
    REQUIRE(f.pt.map((1ull << 48) - kib4, 0, 2 * kib4, kernel_rw).error() == E::out_of_range);
    REQUIRE(f.pt.map(0, (1ull << 48) - kib4, 2 * kib4, kernel_rw).error() == E::out_of_range);
    REQUIRE(f.pt.map(0, 0, kib4, {.kernel = a64::prot_none}).error() == E::unsupported);
    // Overlap anywhere in the range, even in its last page, and with a block.
    REQUIRE(f.pt.map(gib1 - 2 * kib4, 0, 2 * kib4 + kib4, kernel_rw).error() == E::overlap);
    REQUIRE(f.pt.map(gib1 + mib2 - kib4, 0, kib4, kernel_rw).error() == E::overlap);
    REQUIRE(f.pt.map(0, 0, gib1 * 2, kernel_rw).error() == E::overlap);
    REQUIRE(f.pt.unmap(gib1, 0).error() == E::zero_size);
    REQUIRE(f.pt.unmap(gib1 + 1, kib4).error() == E::misaligned);
    REQUIRE(f.pt.unmap(gib1, mib2 + kib4).error() == E::not_found); // last page not mapped
    REQUIRE(f.pt.unmap(gib1 - kib4, 2 * kib4).error() == E::not_found);
    REQUIRE(f.pt.protect(gib1, mib2 + kib4, kernel_ro).error() == E::not_found);
    REQUIRE(f.pt.protect(gib1, kib4, {.kernel = a64::prot_read, .user = a64::prot_rw}).error() ==
            E::unsupported);
    REQUIRE(f.pt.translate(1ull << 48).error() == E::out_of_range);
    REQUIRE(f.pt.translate(0).error() == E::not_found);
    REQUIRE(f.pt.init().error() == E::already_exists);

    REQUIRE(f.pt.table_count() == before_tables);
    auto after = *f.pt.translate(gib1);
    REQUIRE(after.pa == before.pa);
    REQUIRE(after.level == 2); // the block was not split by the failed partial unmap/protect
    REQUIRE(after.attrs == before.attrs);
    REQUIRE(f.pt.check_invariants());
}

TEST_CASE("unmap splits blocks, frees tables that become empty, and invalidates the TLB") {
    Fixture f;
    REQUIRE(f.pt.map(gib1, gib1, gib1, kernel_rw));
    REQUIRE(f.pt.table_count() == 2);
    auto inv = f.tlb.invalidations;
    // One page out of the middle of a 1 GiB block: L2 table (512 blocks) + L3 table (511 pages).
    REQUIRE(f.pt.unmap(gib1 + 3 * mib2 + 5 * kib4, kib4));
    REQUIRE(f.pt.table_count() == 4);
    REQUIRE(f.tlb.invalidations > inv);
    REQUIRE(f.pt.translate(gib1 + 3 * mib2 + 5 * kib4).error() == aos::Errc::not_found);
    REQUIRE(f.pt.translate(gib1 + 3 * mib2 + 4 * kib4)->level == 3);
    REQUIRE(f.pt.translate(gib1 + 3 * mib2 + 6 * kib4)->pa == gib1 + 3 * mib2 + 6 * kib4);
    REQUIRE(f.pt.translate(gib1 + 4 * mib2)->level == 2);
    REQUIRE(f.pt.translate(gib1)->level == 2);
    REQUIRE(f.pt.check_invariants());
    // Two edges in different blocks: both split.
    REQUIRE(f.pt.unmap(gib1 + 7 * mib2 - kib4, mib2 + 2 * kib4));
    REQUIRE(f.pt.translate(gib1 + 7 * mib2 - 2 * kib4)->level == 3);
    REQUIRE(f.pt.translate(gib1 + 8 * mib2 + kib4)->level == 3);
    REQUIRE(f.pt.translate(gib1 + 7 * mib2).error() == aos::Errc::not_found);
    REQUIRE(f.pt.check_invariants());
    auto table_inv = f.tlb.table_invalidations + f.tlb.full_invalidations;
    // The rest goes: every table but the root is freed, walk caches invalidated.
    REQUIRE(f.pt.unmap(gib1, 3 * mib2 + 5 * kib4));
    REQUIRE(f.pt.unmap(gib1 + 3 * mib2 + 6 * kib4, 4 * mib2 - 7 * kib4));
    REQUIRE(f.pt.unmap(gib1 + 8 * mib2 + kib4, gib1 - 8 * mib2 - kib4));
    REQUIRE(f.pt.table_count() == 1);
    REQUIRE(f.tlb.table_invalidations + f.tlb.full_invalidations > table_inv);
    REQUIRE(f.backend.used() == 1);
    REQUIRE(f.pt.check_invariants());
}

TEST_CASE("single pages take a short path that keeps counts, errors, reclaim and TLB maintenance") {
    const bool records = GENERATE(true, false);
    Fixture f(256, records);
    using E = aos::Errc;
    const std::uint64_t va = 3 * gib1 + 5 * mib2;
    REQUIRE(f.pt.map(va, 0x1000'0000, kib4, kernel_rw)); // creates its tables
    auto tables = f.pt.table_count();
    // Into an existing last-level table: no table created, templates of different attributes alternate.
    REQUIRE(f.pt.map(va + kib4, 0x2000'0000, kib4, user_rw));
    REQUIRE(f.pt.map(va + 2 * kib4, 0x3000'0000, kib4, kernel_rw));
    REQUIRE(f.pt.map(va + 3 * kib4, 0x4000'0000, kib4, device));
    REQUIRE(f.pt.table_count() == tables);
    REQUIRE(f.pt.translate(va + kib4)->attrs == user_rw);
    REQUIRE(f.pt.translate(va + 2 * kib4)->attrs == kernel_rw);
    REQUIRE(f.pt.translate(va + 2 * kib4)->pa == 0x3000'0000);
    REQUIRE(f.pt.translate(va + 3 * kib4)->attrs == device);
    REQUIRE(f.pt.check_invariants());
    // Errors change nothing: a mapped page, a page inside a block, attributes rejected after a cached
    // template.
    REQUIRE(f.pt.map(va + kib4, 0, kib4, kernel_rw).error() == E::overlap);
    REQUIRE(f.pt.map(gib1, gib1, mib2, kernel_rw));
    REQUIRE(f.pt.map(gib1 + 7 * kib4, 0, kib4, kernel_rw).error() == E::overlap);
    REQUIRE(f.pt.map(va + 4 * kib4, 0, kib4, {.kernel = a64::prot_none}).error() == E::unsupported);
    REQUIRE(f.pt.map(va + 4 * kib4, 0, kib4, {.kernel = a64::prot_read, .user = a64::prot_rw}).error() ==
            E::unsupported);
    REQUIRE(f.pt.translate(va + 4 * kib4).error() == E::not_found);
    REQUIRE(f.pt.unmap(va + 4 * kib4, kib4).error() == E::not_found); // hole in a live table
    REQUIRE(f.pt.unmap(va + mib2, kib4).error() == E::not_found);     // no last-level table
    REQUIRE(f.pt.unmap(5 * gib512, kib4).error() == E::not_found);    // no upper table
    REQUIRE(f.pt.check_invariants());
    // An unmap that leaves the table live: one leaf invalidation, then a sync.
    auto inv = f.tlb.invalidations, syncs = f.tlb.syncs;
    REQUIRE(f.pt.unmap(va + 2 * kib4, kib4));
    REQUIRE(f.tlb.invalidations == inv + 1);
    REQUIRE(f.tlb.syncs > syncs);
    REQUIRE(f.pt.translate(va + 2 * kib4).error() == E::not_found);
    REQUIRE(f.pt.table_count() == tables + 1); // and the L2 table of the block at 1 GiB
    // A page out of a block is split; the last page of a table reclaims it and its empty parents.
    REQUIRE(f.pt.unmap(gib1 + 7 * kib4, kib4));
    REQUIRE(f.pt.translate(gib1 + 8 * kib4)->level == 3);
    REQUIRE(f.pt.check_invariants());
    REQUIRE(f.pt.unmap(gib1, 7 * kib4));
    REQUIRE(f.pt.unmap(gib1 + 8 * kib4, mib2 - 8 * kib4));
    REQUIRE(f.pt.unmap(va, kib4));
    REQUIRE(f.pt.unmap(va + kib4, kib4));
    REQUIRE(f.pt.table_count() == tables);
    REQUIRE(f.pt.unmap(va + 3 * kib4, kib4));
    REQUIRE(f.pt.table_count() == 1);
    REQUIRE(f.backend.used() == 1);
    REQUIRE(f.pt.check_invariants());
}

TEST_CASE("TLB invalidations are batched: one per page up to a limit, then one for everything") {
    Fixture f;
    REQUIRE(f.pt.map(gib1, gib1, 64 * kib4, kernel_rw, aos::vm::Blocks::forbidden));
    auto leaf = f.tlb.invalidations, full = f.tlb.full_invalidations, syncs = f.tlb.syncs;
    REQUIRE(f.pt.unmap(gib1, 3 * kib4));
    REQUIRE(f.tlb.invalidations == leaf + 3);
    REQUIRE(f.tlb.full_invalidations == full);
    REQUIRE(f.tlb.syncs > syncs);
    leaf = f.tlb.invalidations;
    REQUIRE(f.pt.protect(gib1 + 3 * kib4, 40 * kib4, kernel_ro));
    REQUIRE(f.tlb.full_invalidations == full + 1);
    REQUIRE(f.tlb.invalidations == leaf);
    // A whole last-level table dropped at once: its tables freed, one full invalidation.
    REQUIRE(f.pt.map(2 * gib1, 2 * gib1, mib2, kernel_rw, aos::vm::Blocks::forbidden));
    auto tables = f.pt.table_count();
    REQUIRE(f.pt.unmap(2 * gib1, mib2));
    REQUIRE(f.pt.table_count() == tables - 2);
    REQUIRE(f.tlb.full_invalidations == full + 2);
    REQUIRE(f.pt.translate(2 * gib1).error() == aos::Errc::not_found);
    REQUIRE(f.pt.check_invariants());
}

TEST_CASE("protect changes attributes, splitting only what it must") {
    Fixture f;
    REQUIRE(f.pt.map(0, 0, 4 * mib2, kernel_rw));
    REQUIRE(f.pt.protect(mib2, mib2, kernel_rx));
    REQUIRE(f.pt.translate(mib2)->level == 2);
    REQUIRE(f.pt.translate(mib2)->attrs == kernel_rx);
    REQUIRE(f.pt.translate(0)->attrs == kernel_rw);
    REQUIRE(f.pt.protect(2 * mib2 + kib4, kib4, device));
    REQUIRE(f.pt.translate(2 * mib2 + kib4)->attrs == device);
    REQUIRE(f.pt.translate(2 * mib2 + kib4)->pa == 2 * mib2 + kib4);
    REQUIRE(f.pt.translate(2 * mib2)->attrs == kernel_rw);
    REQUIRE(f.pt.translate(2 * mib2)->level == 3);
    REQUIRE(f.pt.protect(0, 4 * mib2, user_rw));
    for (std::uint64_t p = 0; p < 4 * mib2; p += 64 * kib4)
        REQUIRE(f.pt.translate(p)->attrs == user_rw);
    REQUIRE(f.pt.check_invariants());
}

TEST_CASE("running out of tables or records fails cleanly: a partial map is rolled back") {
    // Root + 2 tables: an L1 and an L2 table fit, an L3 table does not.
    Fixture f(3);
    std::uint64_t va = gib1 + mib2 - kib4; // needs L1, L2 and one L3 table for the first page
    REQUIRE(f.pt.map(va, va, kib4 + mib2, kernel_rw).error() == aos::Errc::no_memory);
    REQUIRE(f.pt.table_count() == 1);
    REQUIRE(f.backend.used() == 1);
    REQUIRE(f.pool.used() == 1);
    REQUIRE(f.pt.translate(va + kib4).error() == aos::Errc::not_found);
    REQUIRE(f.pt.check_invariants());
    // After a successful block map, a split that needs more tables than remain changes nothing.
    REQUIRE(f.pt.map(gib1, gib1, mib2, kernel_rw));
    REQUIRE(f.pt.table_count() == 3);
    REQUIRE(f.pt.unmap(gib1 + kib4, kib4).error() == aos::Errc::no_memory);
    REQUIRE(f.pt.protect(gib1 + kib4, kib4, kernel_ro).error() == aos::Errc::no_memory);
    REQUIRE(f.pt.translate(gib1 + kib4)->level == 2);
    REQUIRE(f.pt.translate(gib1 + kib4)->attrs == kernel_rw);
    REQUIRE(f.pt.table_count() == 3);
    REQUIRE(f.pt.check_invariants());
    // Whole-block removal needs no table.
    REQUIRE(f.pt.unmap(gib1, mib2));
    REQUIRE(f.pt.table_count() == 1);
}

TEST_CASE("a 1 GiB aligned map writes a single block descriptor") {
    Fixture f;
    REQUIRE(f.pt.map(3 * gib1, 5 * gib1, gib1, kernel_rw));
    unsigned valid = 0;
    auto l0 = f.backend.frame_at(f.pt.root_pa());
    auto l1 = f.backend.frame_at(l0->entry[0] & a64::desc::address_mask);
    for (auto e : l1->entry)
        valid += (e & 1);
    REQUIRE(valid == 1);
    REQUIRE((l1->entry[3] & 3) == 1);
}

TEST_CASE("model-based: random map/unmap/protect agree with an independent walker after every step") {
    std::mt19937_64 rng(aos_test::seed("page_table model"));
    // Half the run without the backend's record array, so both lookups are exercised.
    const bool records = GENERATE(true, false);
    Fixture f(4096, records);
    Model model;
    // A window straddling an L0 boundary, so ranges cross tables at every level.
    const std::uint64_t lo = gib512 - 2 * gib1;
    const std::uint64_t hi = gib512 + 2 * gib1;
    const a64::PageAttrs attrs[] = {kernel_rw, kernel_ro, kernel_rx, user_rw, device};
    auto pick = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };
    const unsigned ops = aos_test::iterations(50000); // per lookup mode: 10^5 operations in all
    unsigned done[3] = {};
    for (unsigned i = 0; i < ops; ++i) {
        // Mostly small ranges, some 2 MiB-scale and a few 1 GiB-scale, aligned so that blocks happen.
        std::uint64_t va, size;
        unsigned cls = static_cast<unsigned>(pick(100));
        if (cls < 80) {
            va = lo + pick((hi - lo) / kib4 / 64) * kib4 * 64 + pick(64) * kib4;
            size = (1 + pick(16)) * kib4;
        } else if (cls < 99) {
            va = lo + pick((hi - lo) / mib2) * mib2 + (pick(4) == 0 ? pick(512) * kib4 : 0);
            size = (1 + pick(3)) * mib2 + (pick(4) == 0 ? pick(512) * kib4 : 0);
        } else {
            va = lo + pick((hi - lo) / gib1) * gib1;
            size = gib1;
        }
        if (va + size > hi)
            size = hi - va;
        // Half of the unmaps and protects aim at (part of) an existing mapping, so they mostly succeed and
        // the tree both grows and shrinks.
        if (!model.empty() && pick(2) == 0) {
            auto it = model.lower_bound(va);
            if (it == model.end())
                it = model.begin();
            std::uint64_t len = (it->second.end - it->first) / kib4;
            std::uint64_t first = pick(4) == 0 ? pick(len) : 0;
            va = it->first + first * kib4;
            size = (pick(4) == 0 ? 1 + pick(len - first) : len - first) * kib4;
        }
        // Keep the state bounded (and each step's check short): a crowded tree mostly shrinks.
        std::uint64_t end = va + size;
        std::uint64_t pa = (va ^ (pick(8) << 33)) & ((1ull << 47) - 1); // keeps the alignment of va
        const auto& a = attrs[pick(5)];
        unsigned op = static_cast<unsigned>(pick(3));
        if (model.size() > 256 && pick(2) == 0) {
            auto it = model.lower_bound(va);
            if (it == model.end())
                it = model.begin();
            op = 1;
            va = it->first;
            size = it->second.end - va;
            end = va + size;
        }
        if (op == 0) {
            // Pages only now and then: many small leaves under one block-sized range.
            auto blocks =
                pick(16) == 0 && size <= 4 * mib2 ? aos::vm::Blocks::forbidden : aos::vm::Blocks::allowed;
            auto r = f.pt.map(va, pa, size, a, blocks);
            if (model_any(model, va, end)) {
                FAST_REQUIRE(!r && r.error() == aos::Errc::overlap);
            } else {
                FAST_REQUIRE(r);
                model.emplace(va, Interval{end, pa, a});
            }
        } else if (op == 1) {
            auto r = f.pt.unmap(va, size);
            if (!model_all(model, va, end)) {
                FAST_REQUIRE(!r && r.error() == aos::Errc::not_found);
            } else {
                FAST_REQUIRE(r);
                model.erase(carve(model, va, end), model.lower_bound(end));
            }
        } else {
            auto r = f.pt.protect(va, size, a);
            if (!model_all(model, va, end)) {
                FAST_REQUIRE(!r && r.error() == aos::Errc::not_found);
            } else {
                FAST_REQUIRE(r);
                for (auto it = carve(model, va, end); it != model.end() && it->first < end; ++it)
                    it->second.attrs = a;
            }
        }
        ++done[op];
        // Every step: the operated range and its neighbourhood agree with the model.
        check_range(f, model, va > lo ? va - kib4 : lo, end < hi ? end + kib4 : hi);
        if (i % 5000 == 4999) {
            check_range(f, model, lo, hi);
            FAST_REQUIRE(f.pt.check_invariants());
        }
    }
    check_range(f, model, lo, hi);
    REQUIRE(f.pt.check_invariants());
    REQUIRE(done[0] > 0);
    REQUIRE(done[1] > 0);
    REQUIRE(done[2] > 0);
}

// ---- A custom backend, as docs/paging.md shows it
// -----------------------------------------------------------

namespace {

// What init's backend will look like: the tables belong to someone else (the kernel, behind VNode
// capabilities) and every change is a request to them; the backend keeps a shadow copy of each table so
// reads cost no request. Here the "kernel" is a simple table service in the same process.
struct TableService {
    std::vector<std::array<std::uint64_t, 512>> tables; // index = capability slot
    std::vector<bool> in_use;
    unsigned requests = 0;
};

class CapabilityBackend {
public:
    using Handle = std::uint32_t; // a capability slot
    explicit CapabilityBackend(TableService& s) : service_(s) {}

    aos::Result<aos::vm::NewTable<Handle>> create_table() {
        ++service_.requests; // "retype a RAM capability into a VNode"
        for (Handle h = 0; h < service_.in_use.size(); ++h) {
            if (!service_.in_use[h]) {
                service_.in_use[h] = true;
                service_.tables[h].fill(0);
                shadow_[h].fill(0);
                return aos::vm::NewTable<Handle>{h, physical_base + h * 4096ull};
            }
        }
        return aos::error(aos::Errc::no_memory);
    }
    std::uint64_t read(Handle h, unsigned i) const { return shadow_.at(h)[i]; }
    void write(Handle h, unsigned i, std::uint64_t d) {
        ++service_.requests; // "invoke the VNode: write entry i"
        service_.tables[h][i] = d;
        shadow_[h][i] = d;
    }
    void free_table(Handle h) {
        ++service_.requests; // "delete the VNode capability"
        service_.in_use[h] = false;
    }
    // The kernel does its own TLB maintenance when a VNode entry changes.
    void publish() {}
    void invalidate(std::uint64_t, aos::vm::TlbScope) {}
    void invalidate_all() {}
    void sync() {}

    static constexpr std::uint64_t physical_base = 0x8000'0000;

private:
    TableService& service_;
    std::map<Handle, std::array<std::uint64_t, 512>> shadow_;
};
static_assert(aos::vm::PageTableBackend<CapabilityBackend>);
static_assert(!aos::vm::TableRecords<CapabilityBackend>); // records are found by the tree's search

} // namespace

TEST_CASE("a custom backend: tables behind capabilities, reads from a shadow copy") {
    TableService service;
    service.tables.resize(16);
    service.in_use.resize(16);
    CapabilityBackend backend(service);
    using CapNode = aos::vm::TableNode<CapabilityBackend::Handle>;
    std::vector<aos::vm::NodePool<CapNode>::Slot> slots(16);
    aos::vm::NodePool<CapNode> nodes({slots.data(), slots.size()});
    aos::vm::PageTable<Arch, CapabilityBackend, aos::vm::NodePool<CapNode>> pt(backend, nodes);
    REQUIRE(pt.init());
    REQUIRE(pt.map(gib1, 0x4000'0000, 3 * mib2 + kib4, kernel_rw));
    REQUIRE(pt.translate(gib1 + mib2)->level == 2);
    REQUIRE(pt.translate(gib1 + 3 * mib2)->pa == 0x4000'0000 + 3 * mib2);
    REQUIRE(pt.table_count() == 4);
    // The service holds what the shadow says: slots 0-3 are L0-L3; 2 MiB blocks in L2, the page in L3.
    REQUIRE((service.tables[2][1] & 3) == 1);
    REQUIRE((service.tables[3][0] & 3) == 3);
    // Single pages without handle_at: the short path reaches the tables through their records.
    REQUIRE(pt.map(gib1 + 3 * mib2 + kib4, 0x5000'0000, kib4, kernel_rw));
    REQUIRE(pt.translate(gib1 + 3 * mib2 + kib4)->pa == 0x5000'0000);
    REQUIRE(pt.map(gib1 + 3 * mib2 + kib4, 0, kib4, kernel_rw).error() == aos::Errc::overlap);
    REQUIRE(pt.unmap(gib1 + 3 * mib2 + kib4, kib4));
    REQUIRE(pt.unmap(gib1 + 3 * mib2 + kib4, kib4).error() == aos::Errc::not_found);
    REQUIRE(pt.table_count() == 4);
    REQUIRE(pt.check_invariants());
    REQUIRE(pt.unmap(gib1, 3 * mib2 + kib4));
    REQUIRE(pt.table_count() == 1);
    REQUIRE(service.requests > 0);
    REQUIRE(pt.check_invariants());
}
