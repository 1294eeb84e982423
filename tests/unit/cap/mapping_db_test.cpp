// aos::cap::MappingDb: order, descendants, overlap queries, revoke, and a randomized run of retype, copy,
// delete and revoke checked against a brute-force model after every step.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/cap/mapping_db.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <vector>

using aos::Errc;
using aos::cap::MdbKey;

namespace {

struct Cap {
    aos::core::TreeHook<Cap> mdb_hook;
    MdbKey mdb_key;
    std::uint64_t mdb_max_end = 0;
    Cap(std::uint64_t base, std::uint64_t size, std::uint32_t depth, std::uint32_t type = 0)
        : mdb_key{base, size, depth, type} {}
};
static_assert(aos::cap::MdbEntry<Cap>);
using Db = aos::cap::MappingDb<Cap>;

constexpr std::uint64_t kib = 1024;

} // namespace

TEST_CASE("descendants follow their ancestor; copies are not descendants") {
    Db db;
    Cap ram(0x40000000, 64 * kib, 0);
    Cap ram_copy(0x40000000, 64 * kib, 0);
    Cap frame(0x40000000 + 16 * kib, 16 * kib, 1, 1);
    Cap frame_copy(0x40000000 + 16 * kib, 16 * kib, 1, 1);
    Cap other(0x50000000, 4 * kib, 0);
    for (Cap* c : {&ram, &other, &frame, &ram_copy, &frame_copy})
        REQUIRE(db.insert(*c));
    REQUIRE(db.check_invariants());
    REQUIRE(db.has_descendants(ram));
    REQUIRE(db.has_descendants(ram_copy));
    REQUIRE_FALSE(db.has_descendants(frame));
    REQUIRE_FALSE(db.has_descendants(other));
    REQUIRE(db.has_copies(ram));
    REQUIRE(db.has_copies(frame_copy));
    REQUIRE_FALSE(db.has_copies(other));

    // Overlap queries for a retype of ram: [16K, 32K) is taken by the frame (either copy), [0, 16K) is free.
    Cap* hit = db.find_overlapping_descendant(ram, 0x40000000 + 20 * kib, 0x40000000 + 24 * kib);
    REQUIRE((hit == &frame || hit == &frame_copy));
    REQUIRE(db.find_overlapping_descendant(ram, 0x40000000, 0x40000000 + 16 * kib) == nullptr);
    REQUIRE(db.find_overlapping_descendant(ram, 0x40000000 + 32 * kib, 0x40000000 + 64 * kib) == nullptr);
    REQUIRE(db.find_overlapping_descendant(frame, 0x40000000, 0x40000000 + 64 * kib) == nullptr);

    std::vector<Cap*> gone;
    REQUIRE(db.revoke(ram, [&](Cap& c) { gone.push_back(&c); }) == 2);
    REQUIRE(gone.size() == 2);
    REQUIRE_FALSE(db.has_descendants(ram));
    REQUIRE(db.contains(ram_copy)); // revoke takes descendants, not copies
    REQUIRE(db.size() == 3);
    REQUIRE(db.check_invariants());
}

TEST_CASE("first_descendant walks descendants one by one, as a kernel's revoke does") {
    Db db;
    Cap ram(0x40000000, 64 * kib, 0);
    Cap half(0x40000000, 32 * kib, 1);
    Cap frame(0x40000000 + 8 * kib, 4 * kib, 2, 1);
    Cap next_door(0x40000000 + 64 * kib, 4 * kib, 0);
    for (Cap* c : {&ram, &half, &frame, &next_door})
        REQUIRE(db.insert(*c));
    REQUIRE(db.first_descendant(ram) == &half); // the larger range orders first
    REQUIRE(db.first_descendant(half) == &frame);
    REQUIRE(db.first_descendant(frame) == nullptr);
    REQUIRE(db.first_descendant(next_door) == nullptr);
    std::size_t removed = 0;
    while (Cap* d = db.first_descendant(ram)) {
        REQUIRE(db.remove(*d));
        ++removed;
    }
    REQUIRE(removed == 2);
    REQUIRE(db.size() == 2);
    REQUIRE(db.check_invariants());
}

TEST_CASE("next walks the order; find_overlapping answers from an address") {
    Db db;
    Cap ram(0x40000000, 64 * kib, 0);
    Cap a(0x40000000, 4 * kib, 1, 1);
    Cap b(0x40000000 + 4 * kib, 4 * kib, 1, 1);
    Cap c(0x40000000 + 4 * kib, 4 * kib, 1, 2); // same range as b, another type
    for (Cap* x : {&c, &ram, &b, &a})
        REQUIRE(db.insert(*x));
    REQUIRE(Db::next(ram) == &a);
    REQUIRE(Db::next(a) == &b);
    REQUIRE(Db::next(b) == &c);
    REQUIRE(Db::next(c) == nullptr);
    auto type2 = [](const Cap& x) { return x.mdb_key.type == 2; };
    REQUIRE(db.find_overlapping(0x40000000 + 5 * kib, 0x40000000 + 5 * kib + 1, type2) == &c);
    REQUIRE(db.find_overlapping(0x40000000, 0x40000000 + 4 * kib, type2) == nullptr);
    REQUIRE(db.find_overlapping(0x40000000 + 64 * kib, 0x40000000 + 68 * kib,
                                [](const Cap&) { return true; }) == nullptr);
    REQUIRE(db.find_overlapping(5, 5, [](const Cap&) { return true; }) == nullptr);
}

TEST_CASE("insert refuses bad ranges and partial overlaps, changing nothing") {
    Db db;
    Cap ram(0x1000, 0x4000, 0);
    REQUIRE(db.insert(ram));
    Cap empty(0x1000, 0, 1);
    REQUIRE(db.insert(empty).error() == Errc::zero_size);
    Cap wraps(~std::uint64_t{0} - 0xfff, 0x2000, 0);
    REQUIRE(db.insert(wraps).error() == Errc::overflow);
    Cap straddle(0x4000, 0x2000, 0); // [0x4000, 0x6000) half inside ram
    REQUIRE(db.insert(straddle).error() == Errc::overlap);
    REQUIRE(db.insert(ram).error() == Errc::already_linked);
    REQUIRE(db.size() == 1);
    Cap nested(0x2000, 0x1000, 1);
    REQUIRE(db.insert(nested));
    Cap straddle_child(0x2800, 0x1000, 2); // inside ram, partly over nested
    REQUIRE(db.insert(straddle_child).error() == Errc::overlap);
    REQUIRE(db.check_invariants());
}

TEST_CASE("randomized retype, copy, delete and revoke match a brute-force model") {
    std::mt19937_64 rng(aos_test::seed("mdb randomized"));
    constexpr std::uint64_t page = 4 * kib;
    std::vector<std::unique_ptr<Cap>> live;
    Db db;
    // Originals: disjoint RAM regions of 256 pages.
    for (std::uint64_t r = 0; r < 4; ++r) {
        live.push_back(std::make_unique<Cap>(r * 1024 * page, 256 * page, 0));
        REQUIRE(db.insert(*live.back()));
    }
    auto model_descendants = [&](const Cap& c) {
        std::vector<Cap*> out;
        for (auto& x : live) {
            if (c.mdb_key.is_ancestor_of(x->mdb_key))
                out.push_back(x.get());
        }
        return out;
    };
    auto model_overlap = [&](const Cap& c, std::uint64_t lo, std::uint64_t hi) {
        for (auto& x : live) {
            if (c.mdb_key.is_ancestor_of(x->mdb_key) && x->mdb_key.base < hi && x->mdb_key.end() > lo)
                return true;
        }
        return false;
    };
    auto erase_live = [&](Cap* c) {
        auto it = std::find_if(live.begin(), live.end(), [&](auto& p) { return p.get() == c; });
        REQUIRE(it != live.end());
        live.erase(it);
    };

    for (unsigned step = 0; step < aos_test::iterations(4000); ++step) {
        Cap& c = *live[rng() % live.size()];
        unsigned op = rng() % 10;
        if (op < 5) {
            // Retype a page-aligned sub-range of c, as the kernel would after asking the database.
            std::uint64_t pages = c.mdb_key.size / page;
            std::uint64_t first = rng() % pages;
            std::uint64_t count = 1 + rng() % std::min<std::uint64_t>(pages - first, 16);
            std::uint64_t lo = c.mdb_key.base + first * page, hi = lo + count * page;
            bool taken = model_overlap(c, lo, hi);
            REQUIRE((db.find_overlapping_descendant(c, lo, hi) != nullptr) == taken);
            if (!taken) {
                live.push_back(std::make_unique<Cap>(lo, hi - lo, c.mdb_key.depth + 1, 1));
                REQUIRE(db.insert(*live.back()));
            }
        } else if (op < 7) {
            live.push_back(
                std::make_unique<Cap>(c.mdb_key.base, c.mdb_key.size, c.mdb_key.depth, c.mdb_key.type));
            REQUIRE(db.insert(*live.back()));
        } else if (op < 8) {
            auto expect = model_descendants(c);
            std::set<Cap*> want(expect.begin(), expect.end()), got;
            REQUIRE(db.revoke(c, [&](Cap& d) { got.insert(&d); }) == want.size());
            REQUIRE(got == want);
            for (Cap* d : expect)
                erase_live(d);
        } else if (c.mdb_key.depth > 0 && !db.has_descendants(c)) {
            REQUIRE(db.remove(c));
            erase_live(&c);
        }
        REQUIRE(db.check_invariants());
        REQUIRE(db.size() == live.size());
        if (step % 16 == 0) {
            for (auto& x : live)
                REQUIRE(db.has_descendants(*x) == !model_descendants(*x).empty());
        }
    }
}
