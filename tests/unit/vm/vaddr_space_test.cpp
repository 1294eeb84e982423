// aos::vm::VaddrSpace: reserve and reserve_at rules, fault classification, coalesced backing, release,
// O(1) nodes for a fully touched 1 GiB lazy region, unback, and a model-based randomized run.
#include "../mm/mm_test_support.hpp"
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/vm/vaddr_space.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace {

using aos::Errc;
using aos::vm::Backing;
using aos::vm::FaultError;
using Nodes = mm_test::HeapNodes<aos::vm::VaddrNode>;
using Space = aos::vm::VaddrSpace<Nodes>;
using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

constexpr std::uint64_t page = aos::arch::page_size;
constexpr std::uint64_t lo = 0x10'0000;
constexpr std::uint64_t hi = 0x1000'0000;

template <class Op>
void require_error_unchanged(Space& vs, Errc want, Op op) {
    auto before = vs.stats();
    auto r = op();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == want);
    CHECK(vs.stats() == before);
    CHECK(vs.check_invariants());
}

Ranges release_all(Space& vs, std::uint64_t addr) {
    Ranges out;
    REQUIRE(vs.release(addr, [&](std::uint64_t b, std::uint64_t s) { out.emplace_back(b, s); }));
    return out;
}

} // namespace

TEST_CASE("reserve: lowest fit, alignment, guard pages, and errors leave the space unchanged") {
    Nodes nodes;
    Space vs(nodes, lo, hi);
    REQUIRE_THROWS_AS(Space(nodes, hi, lo), aos_test::Panic);
    require_error_unchanged(vs, Errc::zero_size, [&] { return vs.reserve(0, page, Backing::Lazy); });
    require_error_unchanged(vs, Errc::invalid_argument,
                            [&] { return vs.reserve(page, 3 * page, Backing::Lazy); });
    require_error_unchanged(vs, Errc::overflow,
                            [&] { return vs.reserve(~std::uint64_t{0}, page, Backing::Lazy); });
    require_error_unchanged(vs, Errc::overflow,
                            [&] { return vs.reserve(page, page, Backing::Lazy, ~std::uint64_t{0} / 2); });
    require_error_unchanged(vs, Errc::no_memory, [&] { return vs.reserve(hi, page, Backing::Lazy); });

    auto a = vs.reserve(100, 1, Backing::Lazy);
    REQUIRE(a);
    CHECK(*a == lo);
    auto b = vs.reserve(page, 1 << 20, Backing::Eager);
    REQUIRE(b);
    CHECK(*b == 2 * lo);
    auto stack = vs.reserve(4 * page, 16 * page, Backing::Lazy, 2);
    REQUIRE(stack);
    CHECK(*stack == lo + 16 * page); // its guard pages [lo + 14p, lo + 16p) fit in the gap after a
    auto s = vs.stats();
    CHECK(s.regions == 3);
    CHECK(s.reserved_bytes == 8 * page);
    CHECK(s.backed_bytes == page); // eager: backed from the start
    CHECK(s.backed_ranges == 1);
    nodes.limit = nodes.live;
    // A lazy region is a leaf entry: only the reserve that finds its leaf full needs a node.
    require_error_unchanged(vs, Errc::no_memory, [&] { return vs.reserve(page, page, Backing::Eager); });
    // The leaf holds three regions: the rest of it fills without a node, the next reserve needs one.
    std::uint32_t fitted = 0;
    while (fitted < 64 && vs.reserve(page, page, Backing::Lazy))
        ++fitted;
    CHECK(fitted == aos::vm::detail::vaddr_leaf_cap - 3);
    require_error_unchanged(vs, Errc::no_memory, [&] { return vs.reserve(page, page, Backing::Lazy); });
    nodes.limit = -1;
    CHECK(vs.check_invariants());
}

TEST_CASE("fault classifies every address") {
    Nodes nodes;
    Space vs(nodes, page, hi);
    auto heap = *vs.reserve(8 * page, page, Backing::Lazy);
    auto stack = *vs.reserve(4 * page, page, Backing::Lazy, 1);
    auto fixed = *vs.reserve(page, page, Backing::Eager);
    CHECK(vs.fault(0).error() == FaultError::null_page);
    CHECK(vs.fault(page - 1).error() == FaultError::null_page);
    CHECK(vs.fault(hi).error() == FaultError::unreserved);
    CHECK(vs.fault(fixed + page).error() == FaultError::unreserved);
    CHECK(vs.fault(stack - 1).error() == FaultError::guard_page);
    CHECK(vs.fault(fixed + 5).error() == FaultError::protection);
    auto p = vs.fault(heap + 3 * page + 123);
    REQUIRE(p);
    CHECK(*p == heap + 3 * page);
    REQUIRE(vs.mark_backed(*p, page));
    CHECK(vs.fault(heap + 3 * page + 8).error() == FaultError::protection);
    CHECK(*vs.fault(heap + 4 * page) == heap + 4 * page);
    CHECK(aos::vm::to_string(FaultError::guard_page) == std::string("guard page"));
}

TEST_CASE("backing_kind: how the region holding a range is backed, or why no one region holds it") {
    Nodes nodes;
    Space vs(nodes, page, hi);
    auto lazy = *vs.reserve(8 * page, page, Backing::Lazy, 1);
    auto fixed = *vs.reserve(2 * page, page, Backing::Eager);
    CHECK(*vs.backing_kind(lazy, 8 * page) == Backing::Lazy);
    CHECK(*vs.backing_kind(lazy + 3 * page, page) == Backing::Lazy);
    CHECK(*vs.backing_kind(fixed + page, page) == Backing::Eager);
    REQUIRE(vs.mark_backed(lazy, page));
    CHECK(*vs.backing_kind(lazy, page) == Backing::Lazy); // backed in part, still lazy
    CHECK(vs.backing_kind(lazy, 0).error() == Errc::zero_size);
    CHECK(vs.backing_kind(lazy + 1, page).error() == Errc::misaligned);
    CHECK(vs.backing_kind(lazy - page, page).error() == Errc::out_of_range); // its guard page
    CHECK(vs.backing_kind(lazy + 7 * page, 2 * page).error() == Errc::out_of_range);
    CHECK(vs.backing_kind(fixed + 2 * page, page).error() == Errc::not_found);
    CHECK(vs.backing_kind(hi, page).error() == Errc::out_of_range);
    CHECK(vs.check_invariants());
}

TEST_CASE("mark_backed and reserve_at: rules and coalescing") {
    Nodes nodes;
    Space vs(nodes, lo, hi);
    auto heap = *vs.reserve(16 * page, page, Backing::Lazy, 1);
    require_error_unchanged(vs, Errc::zero_size, [&] { return vs.mark_backed(heap, 0); });
    require_error_unchanged(vs, Errc::misaligned, [&] { return vs.mark_backed(heap + 1, page); });
    require_error_unchanged(vs, Errc::out_of_range, [&] { return vs.mark_backed(hi, page); });
    require_error_unchanged(vs, Errc::not_found, [&] { return vs.mark_backed(heap + 16 * page, page); });
    require_error_unchanged(vs, Errc::out_of_range,
                            [&] { return vs.mark_backed(heap - page, page); }); // guard
    require_error_unchanged(vs, Errc::out_of_range,
                            [&] { return vs.mark_backed(heap + 15 * page, 2 * page); });
    REQUIRE(vs.mark_backed(heap + 4 * page, page));
    REQUIRE(vs.mark_backed(heap + 6 * page, page));
    CHECK(vs.backed_ranges_at(heap) == 2);
    require_error_unchanged(vs, Errc::overlap, [&] { return vs.mark_backed(heap + 3 * page, 2 * page); });
    REQUIRE(vs.mark_backed(heap + 5 * page, page)); // joins both neighbours
    CHECK(vs.backed_ranges_at(heap) == 1);

    // reserve_at: inside the lazy region's unbacked part backs it; anything else overlapping is an error.
    REQUIRE(vs.reserve_at(heap + 8 * page, 2 * page));
    CHECK(vs.backed_ranges_at(heap) == 2);
    require_error_unchanged(vs, Errc::overlap, [&] { return vs.reserve_at(heap + 6 * page, 2 * page); });
    require_error_unchanged(vs, Errc::overlap, [&] { return vs.reserve_at(heap - page, page); }); // guard
    require_error_unchanged(vs, Errc::overlap, [&] { return vs.reserve_at(heap + 15 * page, 2 * page); });
    require_error_unchanged(vs, Errc::out_of_range, [&] { return vs.reserve_at(lo - page, page); });
    require_error_unchanged(vs, Errc::misaligned, [&] { return vs.reserve_at(hi - 10, page); });
    require_error_unchanged(vs, Errc::overflow,
                            [&] { return vs.reserve_at(~std::uint64_t{0} - 4095, 2 * page); });
    auto fixed = heap + 32 * page;
    REQUIRE(vs.reserve_at(fixed, 4 * page));
    require_error_unchanged(vs, Errc::overlap, [&] { return vs.reserve_at(fixed + page, page); }); // eager
    REQUIRE(vs.reserve_at(fixed + 4 * page, page, Backing::Lazy));
    CHECK(vs.fault(fixed + 4 * page).has_value());
    // A lower reserve fills the gap below the fixed region first.
    CHECK(*vs.reserve(4 * page, page, Backing::Lazy) == heap + 16 * page);
    CHECK(vs.check_invariants());

    CHECK(release_all(vs, heap) == Ranges{{heap + 4 * page, 3 * page}, {heap + 8 * page, 2 * page}});
    require_error_unchanged(vs, Errc::not_found, [&] { return vs.release(heap, [](auto, auto) {}); });
    require_error_unchanged(vs, Errc::not_found, [&] { return vs.release(fixed + page, [](auto, auto) {}); });
    CHECK(release_all(vs, fixed) == Ranges{{fixed, 4 * page}});
    // Freed space is reusable, guard pages and all.
    CHECK(*vs.reserve(8 * page, page, Backing::Lazy, 1) == lo + page);
    CHECK(vs.check_invariants());
}

TEST_CASE("unback: pieces go back, a split range may move to the tree, an empty backing goes") {
    Nodes nodes;
    Space vs(nodes, lo, hi);
    auto heap = *vs.reserve(64 * page, page, Backing::Lazy, 1);
    auto eager = *vs.reserve(4 * page, page, Backing::Eager);
    long untouched = nodes.live;
    REQUIRE(vs.mark_backed(heap, 64 * page));
    CHECK(nodes.live == untouched + 1); // the region's backing
    auto unback = [&](std::uint64_t addr, std::uint64_t size) {
        Ranges out;
        REQUIRE(vs.unback(addr, size, [&](std::uint64_t b, std::uint64_t n) { out.emplace_back(b, n); }));
        return out;
    };

    auto refused = [&](Errc want, std::uint64_t addr, std::uint64_t size) {
        require_error_unchanged(vs, want, [&] { return vs.unback(addr, size, [](auto, auto) {}); });
    };
    refused(Errc::zero_size, heap, 0);
    refused(Errc::misaligned, heap + 1, page);
    refused(Errc::out_of_range, hi, page);
    refused(Errc::out_of_range, heap - page, page); // guard
    refused(Errc::out_of_range, heap + 63 * page, 2 * page);
    refused(Errc::not_found, hi - page, page);
    refused(Errc::invalid_argument, eager, page);

    // Eleven single pages out of the middle: twelve ranges, all inline.
    for (std::uint64_t k = 1; k <= 21; k += 2)
        CHECK(unback(heap + k * page, page) == Ranges{{heap + k * page, page}});
    CHECK(vs.backed_ranges_at(heap) == 12);
    CHECK(nodes.live == untouched + 1);
    CHECK(vs.fault(heap + 3 * page).has_value()); // lazy again
    CHECK(vs.fault(heap + 2 * page).error() == FaultError::protection);
    // A thirteenth range: they move to the tree, one node each. With no node to be had, nothing changes.
    nodes.limit = nodes.live;
    refused(Errc::no_memory, heap + 23 * page, page);
    nodes.limit = -1;
    CHECK(unback(heap + 23 * page, page) == Ranges{{heap + 23 * page, page}});
    CHECK(vs.backed_ranges_at(heap) == 13);
    CHECK(nodes.live == untouched + 1 + 13);
    CHECK(vs.check_invariants());
    // Across ranges in tree mode: whole ranges go, the gaps give nothing, an end is trimmed.
    CHECK(unback(heap + 2 * page, 5 * page) ==
          Ranges{{heap + 2 * page, page}, {heap + 4 * page, page}, {heap + 6 * page, page}});
    CHECK(vs.backed_ranges_at(heap) == 10);
    CHECK(unback(heap + 22 * page, 3 * page) == Ranges{{heap + 22 * page, page}, {heap + 24 * page, page}});
    CHECK(vs.backed_ranges_at(heap) == 9);
    CHECK(unback(heap + 40 * page, 2 * page) == Ranges{{heap + 40 * page, 2 * page}}); // splits in the tree
    CHECK(vs.backed_ranges_at(heap) == 10);
    CHECK(unback(heap + 40 * page, 2 * page).empty()); // nothing backed there now: not an error
    CHECK(vs.check_invariants());
    // The whole region: everything left comes back and so do the nodes.
    std::uint64_t left = vs.stats().backed_bytes - 4 * page; // the eager region's pages stay
    Ranges rest = unback(heap, 64 * page);
    std::uint64_t total = 0;
    for (auto [b, n] : rest)
        total += n;
    CHECK(total == left);
    CHECK(rest.front() == std::pair{heap, page});
    CHECK(vs.backed_ranges_at(heap) == 0);
    CHECK(nodes.live == untouched);
    CHECK(vs.stats().backed_bytes == 4 * page);
    CHECK(vs.check_invariants());
    CHECK(release_all(vs, heap).empty());
}

TEST_CASE("a fully touched 1 GiB lazy region costs its backing and one range node, whatever the order") {
    std::mt19937_64 rng(aos_test::seed("vaddr touch 1 GiB"));
    Nodes nodes;
    Space vs(nodes, lo, std::uint64_t{1} << 40);
    constexpr std::uint64_t size = std::uint64_t{1} << 30;
    auto heap = *vs.reserve(size, std::uint64_t{1} << 21, Backing::Lazy);
    std::vector<std::uint32_t> order(size / page);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::uint64_t peak = 0;
    for (std::uint32_t i : order) {
        auto p = vs.fault(heap + i * page + 7);
        if (!p || *p != heap + i * page || !vs.mark_backed(*p, page))
            FAIL("page " << i << " was not backed as expected");
        peak = std::max(peak, vs.stats().backed_ranges);
    }
    CHECK(vs.backed_ranges_at(heap) == 1);
    CHECK(nodes.live == 3); // the tree's one leaf, the region's backing, and its one backed range
    CHECK(vs.stats().backed_bytes == size);
    CHECK(peak <= size / page / 2);
    CHECK(vs.check_invariants());
    CHECK(release_all(vs, heap) == Ranges{{heap, size}});
    CHECK(nodes.live == 0);
}

namespace {

// The reference model: regions in a map, backed pages in a set, everything found by linear scans.
struct Model {
    struct Region {
        std::uint64_t size;
        std::uint64_t guard;
        Backing backing;
    };
    std::map<std::uint64_t, Region> regions;
    std::set<std::uint64_t> pages;
    std::uint64_t reserved = 0;
    std::uint64_t top = 0; // the space is [lo, top)

    const std::pair<const std::uint64_t, Region>* containing(std::uint64_t a) const {
        auto it = regions.upper_bound(a);
        if (it == regions.begin())
            return nullptr;
        --it;
        return a < it->first + it->second.size ? &*it : nullptr;
    }
    bool any_backed(std::uint64_t a, std::uint64_t e) const {
        auto it = pages.lower_bound(a);
        return it != pages.end() && *it < e;
    }
    void back(std::uint64_t a, std::uint64_t e) {
        for (; a < e; a += page)
            pages.insert(a);
    }
    void add(std::uint64_t base, std::uint64_t guard, std::uint64_t size, Backing b) {
        regions[base] = {guard + size, guard, b};
        reserved += guard + size;
        if (b == Backing::Eager)
            back(base + guard, base + guard + size);
    }
    bool reserve(std::uint64_t size, std::uint64_t align, std::uint64_t guard, std::uint64_t& usable) {
        std::uint64_t gap_lo = lo;
        auto try_gap = [&](std::uint64_t gap_hi) {
            std::uint64_t u = (gap_lo + guard + align - 1) & ~(align - 1);
            if (u <= gap_hi && gap_hi - u >= size) {
                usable = u;
                return true;
            }
            return false;
        };
        for (const auto& [b, r] : regions) {
            if (try_gap(b))
                return true;
            gap_lo = b + r.size;
        }
        return try_gap(top);
    }
    Errc reserve_at(std::uint64_t a, std::uint64_t size, Backing b) {
        std::uint64_t e = a + size;
        if (a < lo || e > top)
            return Errc::out_of_range;
        if (auto* r = containing(a)) {
            bool inside = r->second.backing == Backing::Lazy && a >= r->first + r->second.guard &&
                          e <= r->first + r->second.size;
            if (!inside || any_backed(a, e))
                return Errc::overlap;
            back(a, e);
            return Errc{};
        }
        auto next = regions.upper_bound(a);
        if (next != regions.end() && next->first < e)
            return Errc::overlap;
        add(a, 0, size, b);
        return Errc{};
    }
    // The region whose usable part holds [a, e), or why there is none (as mark_backed and unback say).
    Errc in_usable(std::uint64_t a, std::uint64_t e, const std::pair<const std::uint64_t, Region>*& r) const {
        if (a < lo || e > top)
            return Errc::out_of_range;
        r = containing(a);
        if (r == nullptr)
            return Errc::not_found;
        if (a < r->first + r->second.guard || e > r->first + r->second.size)
            return Errc::out_of_range;
        return Errc{};
    }
    Errc mark(std::uint64_t a, std::uint64_t size) {
        std::uint64_t e = a + size;
        const std::pair<const std::uint64_t, Region>* r = nullptr;
        if (Errc why = in_usable(a, e, r); why != Errc{})
            return why;
        if (any_backed(a, e))
            return Errc::overlap;
        back(a, e);
        return Errc{};
    }
    int fault(std::uint64_t a) const { // -1: back the page; otherwise a FaultError
        if (a < page)
            return static_cast<int>(FaultError::null_page);
        auto* r = a >= lo && a < top ? containing(a) : nullptr;
        if (r == nullptr)
            return static_cast<int>(FaultError::unreserved);
        if (a < r->first + r->second.guard)
            return static_cast<int>(FaultError::guard_page);
        if (pages.count(a & ~(page - 1)) != 0)
            return static_cast<int>(FaultError::protection);
        return -1;
    }
    Ranges runs(std::uint64_t base, std::uint64_t end) const {
        Ranges out;
        for (auto it = pages.lower_bound(base); it != pages.end() && *it < end; ++it) {
            if (!out.empty() && out.back().first + out.back().second == *it)
                out.back().second += page;
            else
                out.emplace_back(*it, page);
        }
        return out;
    }
    Errc unback(std::uint64_t a, std::uint64_t size, Ranges& out) {
        std::uint64_t e = a + size;
        const std::pair<const std::uint64_t, Region>* r = nullptr;
        if (Errc why = in_usable(a, e, r); why != Errc{})
            return why;
        if (r->second.backing == Backing::Eager)
            return Errc::invalid_argument;
        out = runs(a, e);
        pages.erase(pages.lower_bound(a), pages.lower_bound(e));
        return Errc{};
    }
    bool release(std::uint64_t usable, Ranges& out) {
        auto* r = containing(usable);
        if (r == nullptr || r->first + r->second.guard != usable)
            return false;
        std::uint64_t base = r->first;
        std::uint64_t end = base + r->second.size;
        out = runs(base, end);
        pages.erase(pages.lower_bound(base), pages.lower_bound(end));
        reserved -= r->second.size;
        regions.erase(base);
        return true;
    }
    aos::vm::VaddrStats stats() const {
        std::uint64_t ranges = 0;
        for (const auto& [b, r] : regions)
            ranges += runs(b, b + r.size).size();
        return {regions.size(), ranges, reserved, pages.size() * page};
    }
};

} // namespace

TEST_CASE("model: random reserve, reserve_at, fault, mark_backed, unback and release") {
    std::mt19937_64 rng(aos_test::seed("vaddr model"));
    auto rnd = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };
    constexpr std::uint64_t top = lo + 4096 * page; // small, so gaps run out and get reused
    Nodes nodes;
    Space vs(nodes, lo, top);
    Model m;
    m.top = top;
    auto random_addr = [&] { return rnd(10) == 0 ? rnd(2 * page) : lo - page + rnd(top - lo + 2 * page); };
    auto region_addr = [&]() -> std::uint64_t {
        if (m.regions.empty())
            return random_addr();
        auto it = m.regions.begin();
        std::advance(it, static_cast<long>(rnd(m.regions.size())));
        return it->first + rnd(it->second.size + page);
    };
    unsigned steps = aos_test::iterations(100000);
    std::uint64_t peak_ranges = 0;
    for (unsigned step = 0; step < steps; ++step) {
        std::uint64_t op = rnd(100);
        if (op < 20) {
            // Some regions are large enough to hold more backed ranges than a backing keeps inline.
            std::uint64_t size = page * (1 + (rnd(4) == 0 ? rnd(128) : rnd(16)));
            std::uint64_t align = std::uint64_t{1} << (12 + rnd(5));
            std::uint64_t guard = rnd(3) == 0 ? 1 + rnd(2) : 0;
            Backing b = rnd(4) == 0 ? Backing::Eager : Backing::Lazy;
            std::uint64_t want = 0;
            bool ok = m.reserve(size, align, guard * page, want);
            auto r = vs.reserve(size, align, b, guard);
            if (r.has_value() != ok || (ok ? *r != want : r.error() != Errc::no_memory))
                FAIL("step " << step << ": reserve differs from the model");
            if (ok)
                m.add(want - guard * page, guard * page, size, b);
        } else if (op < 30) {
            std::uint64_t a = region_addr() & ~(page - 1);
            std::uint64_t size = page * (1 + rnd(4));
            Backing b = rnd(2) == 0 ? Backing::Eager : Backing::Lazy;
            Errc want = m.reserve_at(a, size, b);
            auto r = vs.reserve_at(a, size, b);
            if (r.has_value() != (want == Errc{}) || (!r && r.error() != want))
                FAIL("step " << step << ": reserve_at(" << a << ", " << size << ") differs from the model");
        } else if (op < 65) {
            std::uint64_t a = rnd(2) == 0 ? region_addr() : random_addr();
            int want = m.fault(a);
            auto r = vs.fault(a);
            if (r.has_value() != (want < 0) ||
                (r ? *r != (a & ~(page - 1)) : static_cast<int>(r.error()) != want))
                FAIL("step " << step << ": fault(" << a << ") differs from the model");
            if (r) {
                REQUIRE(vs.mark_backed(*r, page));
                m.back(*r, *r + page);
                peak_ranges = std::max(peak_ranges, vs.backed_ranges_at(a));
            }
        } else if (op < 80) {
            std::uint64_t a = region_addr() & ~(page - 1);
            std::uint64_t size = page * (1 + rnd(3));
            Errc want = m.mark(a, size);
            auto r = vs.mark_backed(a, size);
            if (r.has_value() != (want == Errc{}) || (!r && r.error() != want))
                FAIL("step " << step << ": mark_backed(" << a << ", " << size << ") differs from the model");
        } else if (op < 85) {
            // Pieces of one page split a backed range; larger ones take whole ranges and trim others.
            std::uint64_t a = region_addr() & ~(page - 1);
            std::uint64_t size = page * (rnd(2) == 0 ? 1 : 1 + rnd(24));
            Ranges want;
            Errc want_error = m.unback(a, size, want);
            Ranges got;
            auto r = vs.unback(a, size, [&](std::uint64_t b, std::uint64_t n) { got.emplace_back(b, n); });
            if (r.has_value() != (want_error == Errc{}) || (!r && r.error() != want_error) ||
                (r && got != want))
                FAIL("step " << step << ": unback(" << a << ", " << size << ") differs from the model");
        } else {
            std::uint64_t a = region_addr();
            if (rnd(4) != 0 && m.containing(a) != nullptr)
                a = m.containing(a)->first + m.containing(a)->second.guard; // mostly a real release
            Ranges want;
            bool ok = m.release(a, want);
            Ranges got;
            auto r = vs.release(a, [&](std::uint64_t b, std::uint64_t s) { got.emplace_back(b, s); });
            if (r.has_value() != ok || (ok ? got != want : r.error() != Errc::not_found))
                FAIL("step " << step << ": release(" << a << ") differs from the model");
        }
        auto s = vs.stats();
        if (s.regions != m.regions.size() || s.reserved_bytes != m.reserved ||
            s.backed_bytes != m.pages.size() * page)
            FAIL("step " << step << ": stats differ from the model");
        // The O(n) checks every few steps keep the run to seconds.
        if (step % 128 == 0 && (!(s == m.stats()) || !vs.check_invariants()))
            FAIL("step " << step << ": backed ranges or invariants differ");
    }
    REQUIRE(vs.stats() == m.stats());
    REQUIRE(vs.check_invariants());
    CHECK(peak_ranges > aos::vm::detail::vaddr_inline_ranges); // the run reached a region's range tree
}

TEST_CASE("thousands of regions: the tree grows, shrinks back to nothing, and reuses the lowest holes") {
    std::mt19937_64 rng(aos_test::seed("vaddr many regions"));
    Nodes nodes;
    {
        Space vs(nodes, lo, std::uint64_t{1} << 40);
        std::vector<std::uint64_t> bases;
        for (int i = 0; i < 3000; ++i) {
            auto r = vs.reserve(page, page, Backing::Lazy);
            REQUIRE(r);
            CHECK(*r == lo + static_cast<std::uint64_t>(i) * page); // back to back, from the bottom
            bases.push_back(*r);
        }
        REQUIRE(vs.check_invariants());
        // Releasing in random order merges and frees tree nodes at every level.
        std::shuffle(bases.begin(), bases.end(), rng);
        std::set<std::uint64_t> freed;
        for (std::size_t i = 0; i < 2000; ++i) {
            REQUIRE(vs.release(bases[i], [](std::uint64_t, std::uint64_t) {}));
            freed.insert(bases[i]);
            if (i % 97 == 0)
                REQUIRE(vs.check_invariants());
        }
        CHECK(vs.fault(bases[0]).error() == FaultError::unreserved);
        // One-page reserves fill the holes lowest first.
        for (int i = 0; i < 500; ++i) {
            auto r = vs.reserve(page, page, Backing::Lazy);
            REQUIRE(r);
            CHECK(*r == *freed.begin());
            freed.erase(freed.begin());
            bases[static_cast<std::size_t>(i)] = *r;
        }
        REQUIRE(vs.check_invariants());
        auto before = nodes.live;
        for (std::size_t i = 0; i < 500; ++i)
            REQUIRE(vs.release(bases[i], [](std::uint64_t, std::uint64_t) {}));
        for (std::size_t i = 2000; i < bases.size(); ++i)
            REQUIRE(vs.release(bases[i], [](std::uint64_t, std::uint64_t) {}));
        CHECK(nodes.live < before);
        CHECK(vs.stats() == aos::vm::VaddrStats{});
        CHECK(nodes.live == 0); // the emptied tree gave back its last node
        CHECK(vs.check_invariants());
        // And grows again from nothing.
        REQUIRE(vs.reserve(page, page, Backing::Eager));
        CHECK(vs.check_invariants());
    }
    CHECK(nodes.live == 0);
}

TEST_CASE(
    "a region's first backed ranges cost no node of their own; more move to a tree, and coalesce there") {
    constexpr std::uint64_t inline_ranges = aos::vm::detail::vaddr_inline_ranges;
    Nodes nodes;
    Space vs(nodes, lo, hi);
    auto heap = *vs.reserve(4 * inline_ranges * page, page, Backing::Lazy);
    CHECK(nodes.live == 1); // the tree's leaf: an untouched lazy region has no other node
    for (std::uint64_t i = 0; i < inline_ranges; ++i)
        REQUIRE(vs.mark_backed(heap + 2 * i * page, page)); // every other page: a range each
    CHECK(vs.backed_ranges_at(heap) == inline_ranges);
    CHECK(nodes.live == 2); // and the region's backing, which holds them
    REQUIRE(vs.mark_backed(heap + 2 * inline_ranges * page, page));
    CHECK(vs.backed_ranges_at(heap) == inline_ranges + 1);
    CHECK(nodes.live == 2 + inline_ranges + 1); // a node per range once they outgrow the backing
    CHECK(vs.check_invariants());
    for (std::uint64_t i = 0; i < inline_ranges; ++i)
        REQUIRE(vs.mark_backed(heap + (2 * i + 1) * page, page)); // the holes: all joins
    CHECK(vs.backed_ranges_at(heap) == 1);
    CHECK(vs.fault(heap + 5 * page).error() == FaultError::protection);
    CHECK(*vs.fault(heap + (2 * inline_ranges + 1) * page) == heap + (2 * inline_ranges + 1) * page);
    CHECK(vs.check_invariants());
    CHECK(release_all(vs, heap) == Ranges{{heap, (2 * inline_ranges + 1) * page}});
    CHECK(nodes.live == 0);
}
