// aos::mm::Slab: O(1) objects, early refill, the recursion guard, failing refills, and the real recursion
// (a region allocator whose nodes come from a slab refilled from that same allocator) to exhaustion and back.
#include "catch.hpp"
#include "mm_test_support.hpp"
#include "test_support.hpp"

#include <aos/core/lock.hpp>
#include <aos/mm/region_allocator.hpp>
#include <aos/mm/slab.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <thread>
#include <vector>

namespace {

using aos::Errc;

struct Obj {
    std::uint64_t a = 0x1234;
    std::uint64_t b[3] = {};
};

// Host memory handed out chunk by chunk; counts calls and the nesting depth, and can be told to fail.
struct TestRefill {
    std::vector<std::unique_ptr<std::byte[]>> chunks;
    int calls = 0;
    int depth = 0;
    int max_depth = 0;
    bool fail = false;
    std::size_t short_by = 0;
    std::function<void()> during; // runs inside the refill, to re-enter the slab

    aos::Result<std::span<std::byte>> refill(std::size_t bytes) {
        ++calls;
        ++depth;
        max_depth = std::max(max_depth, depth);
        if (during)
            during();
        --depth;
        if (fail)
            return aos::error(Errc::no_memory);
        chunks.push_back(std::make_unique<std::byte[]>(bytes));
        return std::span<std::byte>(chunks.back().get(), bytes - short_by);
    }
};

using ObjSlab = aos::mm::Slab<Obj, TestRefill>;

} // namespace

TEST_CASE("slab: configuration and grow are validated") {
    TestRefill refill;
    REQUIRE_THROWS_AS(ObjSlab(refill, {.chunk_bytes = 64, .low_water = 8}), aos_test::Panic);
    ObjSlab slab(refill, {.chunk_bytes = 4096, .low_water = 4});
    alignas(64) std::byte tiny[24];
    auto before = slab.stats();
    auto r = slab.grow(std::span<std::byte>(tiny, sizeof tiny));
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::invalid_argument);
    CHECK(slab.stats() == before);
    REQUIRE_FALSE(slab.grow({}));
    CHECK(slab.check_invariants());
}

TEST_CASE("slab: objects are constructed, distinct, aligned, and recycled") {
    TestRefill refill;
    ObjSlab slab(refill, {.chunk_bytes = 4096, .low_water = 4});
    std::set<Obj*> live;
    for (int i = 0; i < 1000; ++i) {
        Obj* o = *slab.allocate();
        CHECK(o->a == 0x1234);
        CHECK(reinterpret_cast<std::uintptr_t>(o) % alignof(Obj) == 0);
        REQUIRE(live.insert(o).second);
        o->a = static_cast<std::uint64_t>(i);
    }
    auto s = slab.stats();
    CHECK(s.in_use == 1000);
    CHECK(s.capacity == s.free + s.in_use);
    CHECK(s.refills == static_cast<std::size_t>(refill.calls));
    CHECK(slab.check_invariants());
    Obj* first = *live.begin();
    slab.deallocate(first);
    CHECK(*slab.allocate() == first); // LIFO: the hottest slot comes back first
    for (Obj* o : live)
        slab.deallocate(o);
    CHECK(slab.stats().in_use == 0);
    CHECK(slab.check_invariants());
    REQUIRE_THROWS_AS(slab.deallocate(nullptr), aos_test::Panic);
}

TEST_CASE("slab: refills early, once, and re-entries are served from the reserve") {
    TestRefill refill;
    ObjSlab slab(refill, {.chunk_bytes = 4096, .low_water = 8});
    std::vector<Obj*> inner;
    refill.during = [&] {
        // A refill that itself needs objects (as a region allocator feeding on this slab does).
        for (int i = 0; i < 3; ++i) {
            auto o = slab.allocate();
            if (o)
                inner.push_back(*o);
        }
    };
    alignas(64) static std::byte boot[1024];
    REQUIRE(slab.grow(boot));
    std::size_t boot_objects = slab.stats().free;
    REQUIRE(boot_objects > 11);
    // Nothing happens above the low-water mark.
    std::vector<Obj*> outer;
    while (slab.stats().free > 9)
        outer.push_back(*slab.allocate());
    CHECK(refill.calls == 0);
    // Reaching it refills while objects are still left, and the nested allocations come from the reserve.
    outer.push_back(*slab.allocate());
    outer.push_back(*slab.allocate());
    CHECK(refill.calls == 1);
    CHECK(refill.max_depth == 1);
    CHECK(inner.size() == 3);
    CHECK(slab.stats().chunks == 2);
    CHECK(slab.stats().in_use == outer.size() + inner.size());
    CHECK(slab.check_invariants());
}

TEST_CASE("slab: a failing refill drains the reserve, then reports the policy's error") {
    TestRefill refill;
    refill.fail = true;
    ObjSlab slab(refill, {.chunk_bytes = 4096, .low_water = 4});
    alignas(64) static std::byte boot[512];
    REQUIRE(slab.grow(boot));
    std::size_t n = slab.stats().free;
    for (std::size_t i = 0; i < n; ++i)
        REQUIRE(slab.allocate());
    auto r = slab.allocate();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::no_memory);
    CHECK(slab.stats().failed_refills >= 5);
    CHECK(slab.stats().in_use == n);
    // A refill shorter than asked is refused, not half used.
    refill.fail = false;
    refill.short_by = 64;
    auto s = slab.allocate();
    REQUIRE_FALSE(s);
    CHECK(s.error() == Errc::invalid_argument);
    refill.short_by = 0;
    REQUIRE(slab.allocate());
    CHECK(slab.stats().refills == 1);
    CHECK(slab.check_invariants());
}

namespace {

// The real recursion: the region allocator's nodes come from a slab whose refill allocates a chunk (two
// pages: fifteen nodes past its header) from that same region allocator. "Physical" addresses map onto one
// host buffer.
using Node = aos::mm::RegionNode<mm_test::FakeCap>;
struct RaRefill {
    struct Context;
    Context* ctx = nullptr;
    aos::Result<std::span<std::byte>> refill(std::size_t bytes);
};
using NodeSlab = aos::mm::Slab<Node, RaRefill>;
using Ra = aos::mm::RegionAllocator<mm_test::FakeCaps, NodeSlab>;

constexpr std::uint64_t phys_base = 0x4000'0000;
constexpr std::uint64_t phys_size = 2 << 20;
constexpr std::uint64_t page = aos::arch::page_size;
constexpr std::uint64_t chunk = 2 * page;

struct RaRefill::Context {
    Ra* ra = nullptr;
    std::byte* host = nullptr;
    std::vector<std::uint64_t> chunks;
    int depth = 0;
    int max_depth = 0;
};

aos::Result<std::span<std::byte>> RaRefill::refill(std::size_t bytes) {
    ++ctx->depth;
    ctx->max_depth = std::max(ctx->max_depth, ctx->depth);
    auto a = ctx->ra->alloc(bytes);
    --ctx->depth;
    if (!a)
        return aos::error(a.error());
    ctx->chunks.push_back(a->base);
    return std::span<std::byte>(ctx->host + (a->base - phys_base), a->size);
}

} // namespace

TEST_CASE("slab: region allocator nodes from a slab refilled by that allocator, to exhaustion and back") {
    std::mt19937_64 rng(aos_test::seed("slab recursion"));
    std::vector<std::byte> host(phys_size + page);
    RaRefill::Context ctx;
    auto host_addr = reinterpret_cast<std::uintptr_t>(host.data());
    ctx.host = host.data() + ((page - host_addr % page) % page);
    RaRefill refill{&ctx};
    NodeSlab slab(refill, {.chunk_bytes = chunk, .low_water = 8});
    alignas(64) static std::byte boot[4096]; // the static bootstrap an OS links in
    REQUIRE(slab.grow(boot));
    mm_test::FakeCaps caps;
    {
        Ra ra(caps, slab);
        ctx.ra = &ra;
        REQUIRE(ra.add(caps.original(phys_size), phys_base, phys_size));

        auto consistent = [&] {
            REQUIRE(ra.check_invariants());
            REQUIRE(slab.check_invariants());
            REQUIRE(slab.stats().in_use == ra.node_count()); // no object lost or leaked
            REQUIRE(ctx.max_depth == 1);                     // never a refill inside a refill
            REQUIRE(slab.stats().chunks == ctx.chunks.size() + 1);
        };

        for (int round = 0; round < 2; ++round) {
            // Single pages in random order of freeing: the most nodes per byte.
            std::vector<aos::mm::Allocation<mm_test::FakeCap>> held;
            for (;;) {
                auto a = ra.alloc(page);
                if (!a) {
                    REQUIRE(a.error() == Errc::no_memory);
                    break;
                }
                held.push_back(*a);
            }
            consistent();
            // Exhausted: every page is either held or backs the slab.
            REQUIRE(ra.stats().free == 0);
            REQUIRE(ra.stats().allocated == held.size() * page + ctx.chunks.size() * chunk);
            std::shuffle(held.begin(), held.end(), rng);
            for (const auto& a : held)
                REQUIRE(ra.free(a.base, a.size)); // whole frees need no node, even with the slab dry
            consistent();
            REQUIRE(ra.stats().allocated == ctx.chunks.size() * chunk);
        }
        REQUIRE(caps.violations == 0);
    }
    REQUIRE(slab.stats().in_use == 0);
    REQUIRE(slab.check_invariants());
}

TEST_CASE("slab: randomized allocate/deallocate keeps the counts") {
    std::mt19937_64 rng(aos_test::seed("slab random"));
    TestRefill refill;
    ObjSlab slab(refill, {.chunk_bytes = 2048, .low_water = 6});
    std::vector<Obj*> live;
    unsigned steps = aos_test::iterations(100000);
    for (unsigned i = 0; i < steps; ++i) {
        if (live.empty() || rng() % 100 < 55) {
            live.push_back(*slab.allocate());
        } else {
            std::size_t k = rng() % live.size();
            slab.deallocate(live[k]);
            live[k] = live.back();
            live.pop_back();
        }
        if (slab.stats().in_use != live.size())
            FAIL("step " << i << ": in_use differs");
        if (i % 1024 == 0 && !slab.check_invariants())
            FAIL("step " << i << ": invariants broken");
    }
    CHECK(slab.check_invariants());
    CHECK(slab.stats().free > 0);
}

namespace {

// The same recursion shared by two threads, with spin locks on both the slab and the region allocator.
using SharedNode = aos::mm::RegionNode<aos::mm::RangeCap>;
struct SharedRefill {
    struct Context;
    Context* ctx = nullptr;
    aos::Result<std::span<std::byte>> refill(std::size_t bytes);
};
using SharedSlab = aos::mm::Slab<SharedNode, SharedRefill, aos::core::SpinLock>;
using SharedRa =
    aos::mm::RegionAllocator<aos::mm::RangeCaps, SharedSlab, aos::mm::FirstFit, aos::core::SpinLock>;

struct SharedRefill::Context {
    SharedRa* ra = nullptr;
    std::byte* host = nullptr;
    std::size_t chunks = 0; // written only by the one refill in progress
};

aos::Result<std::span<std::byte>> SharedRefill::refill(std::size_t bytes) {
    auto a = ctx->ra->alloc(bytes);
    if (!a)
        return aos::error(a.error());
    ++ctx->chunks;
    return std::span<std::byte>(ctx->host + (a->base - phys_base), a->size);
}

} // namespace

TEST_CASE("slab: two threads share the recursion under spin locks") {
    std::uint64_t seed = aos_test::seed("slab threads");
    std::vector<std::byte> host(phys_size + page);
    auto host_addr = reinterpret_cast<std::uintptr_t>(host.data());
    SharedRefill::Context ctx;
    ctx.host = host.data() + ((page - host_addr % page) % page);
    SharedRefill refill{&ctx};
    SharedSlab slab(refill, {.chunk_bytes = chunk, .low_water = 12}); // 3 nodes per call, 2 callers, margin
    alignas(64) static std::byte boot[8192];
    REQUIRE(slab.grow(boot));
    aos::mm::RangeCaps caps;
    SharedRa ra(caps, slab);
    ctx.ra = &ra;
    REQUIRE(ra.add({phys_base, phys_size}, phys_base, phys_size));

    unsigned steps = aos_test::iterations(20000);
    auto worker = [&](std::uint64_t s, std::vector<aos::mm::Allocation<aos::mm::RangeCap>>& held,
                      int& errors) {
        std::mt19937_64 rng(s);
        for (unsigned i = 0; i < steps; ++i) {
            if (held.empty() || rng() % 100 < 55) {
                auto a = ra.alloc(page * (1 + rng() % 4));
                if (a)
                    held.push_back(*a);
                else if (a.error() != Errc::no_memory)
                    ++errors;
            } else {
                std::size_t k = rng() % held.size();
                auto a = held[k];
                if (a.size > page && rng() % 2 == 0) {
                    // Give back the first page only; the rest stays held. That may need a node, which a
                    // dry slab over an exhausted allocator cannot supply: then nothing changes.
                    if (auto r = ra.free(a.base, page))
                        held[k] = {a.base + page, a.size - page, a.cap};
                    else if (r.error() != Errc::no_memory)
                        ++errors;
                } else {
                    if (!ra.free(a.base, a.size))
                        ++errors;
                    held[k] = held.back();
                    held.pop_back();
                }
            }
        }
    };
    std::vector<aos::mm::Allocation<aos::mm::RangeCap>> held_a;
    std::vector<aos::mm::Allocation<aos::mm::RangeCap>> held_b;
    int errors_a = 0;
    int errors_b = 0;
    std::thread ta(worker, seed, std::ref(held_a), std::ref(errors_a));
    std::thread tb(worker, seed ^ 0x9e3779b97f4a7c15, std::ref(held_b), std::ref(errors_b));
    ta.join();
    tb.join();
    CHECK(errors_a == 0);
    CHECK(errors_b == 0);
    REQUIRE(ra.check_invariants());
    REQUIRE(slab.check_invariants());
    REQUIRE(slab.stats().in_use == ra.node_count());
    for (const auto* held : {&held_a, &held_b}) {
        for (const auto& a : *held)
            REQUIRE(ra.free(a.base, a.size));
    }
    REQUIRE(ra.stats().allocated == ctx.chunks * chunk);
    REQUIRE(slab.stats().chunks == ctx.chunks + 1);
    REQUIRE(ra.check_invariants());
}

TEST_CASE("node batch: a nested user takes and gives back above the outer one's mark") {
    TestRefill refill;
    ObjSlab slab(refill, {.chunk_bytes = 4096, .low_water = 4});
    aos::mm::NodeBatch<Obj, 8> batch;
    // The refill that the outer take causes takes three of its own and gives them back, as a nested
    // operation does; the outer take must end with exactly its own objects on top of its mark.
    std::size_t nested_mark = 99;
    bool nested_done = false;
    refill.during = [&] {
        if (nested_done)
            return;
        nested_done = true;
        aos::Result<std::size_t> m = batch.take_more(slab, 3);
        REQUIRE(m);
        nested_mark = *m;
        REQUIRE(batch.count == nested_mark + 3);
        batch.give_back_to(slab, nested_mark);
    };
    // A few objects to start from, so that the refill comes in the middle of the outer take.
    auto& boot = refill.chunks.emplace_back(std::make_unique<std::byte[]>(256));
    REQUIRE(slab.grow(std::span<std::byte>(boot.get(), 256)));
    REQUIRE(slab.stats().free > 4);
    REQUIRE(slab.stats().free < 8);
    std::size_t start = slab.stats().in_use;
    aos::Result<std::size_t> outer = batch.take_more(slab, 6);
    REQUIRE(outer);
    REQUIRE(*outer == 0);
    REQUIRE(nested_done);
    REQUIRE(nested_mark < 6); // the nested user took while the outer held some
    REQUIRE(batch.count == 6);
    REQUIRE(slab.stats().in_use == start + 6);
    REQUIRE(batch.take_more(slab, 3).error() == Errc::no_memory); // past N: refused, nothing taken
    REQUIRE(batch.count == 6);
    batch.give_back_to(slab, 2);
    REQUIRE(batch.count == 2);
    REQUIRE(slab.stats().in_use == start + 2);
    batch.give_back(slab);
    REQUIRE(slab.stats().in_use == start);
    REQUIRE(slab.check_invariants());
}
