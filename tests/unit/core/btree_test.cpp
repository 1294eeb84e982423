// aos::core::BTree on its own, with small nodes so that a few hundred keys make a tree several levels deep:
// randomized inserts and erases checked against std::map (order both ways, locate, the lowest-first
// search over the summaries) with the structural check after every step, and every node given back.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/core/btree.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <utility>
#include <vector>

namespace {

struct Node {
    alignas(64) std::byte storage[128];
};

struct Leaf {
    std::uint32_t count = 0;
    std::uint64_t base[4] = {};
    std::uint64_t val[4] = {};
};

struct Entry {
    std::uint64_t base;
    std::uint64_t val;
};

// Summary: the largest value below a child. Fan-outs at their smallest legal values.
struct Traits : aos::core::BTreeLargestOf<&Leaf::val> {
    using Node = ::Node;
    using Leaf = ::Leaf;
    using Entry = ::Entry;
    static constexpr std::uint32_t leaf_cap = 4;
    static constexpr std::uint32_t inner_cap = 5;
    static constexpr std::uint32_t inner_min = 3;
    static constexpr int max_height = 36;

    static void put(Leaf& lf, unsigned i, const Entry& e) {
        lf.base[i] = e.base;
        lf.val[i] = e.val;
    }
    static void move_entry(Leaf& d, unsigned di, Leaf& s, unsigned si) {
        d.base[di] = s.base[si];
        d.val[di] = s.val[si];
    }
    static void vacate(Leaf& lf, unsigned i) { lf.val[i] = 0; }
};
using Tree = aos::core::BTree<Traits>;
static_assert(sizeof(Tree::Inner) <= sizeof(Node) && sizeof(Leaf) <= sizeof(Node));

// Nodes from the heap, counted.
struct Pool {
    std::size_t live = 0;
    Node* pop() {
        ++live;
        return new Node;
    }
    void push(Node* n) {
        REQUIRE(live > 0);
        --live;
        delete n;
    }
};

// The entries in order, walked from the first entry forward or from the last back.
std::vector<std::pair<std::uint64_t, std::uint64_t>> contents(const Tree& t, bool backward = false) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> v;
    Tree::Path p;
    for (bool more = backward ? t.last_entry(p) : t.first_entry(p); more;
         more = backward ? t.prev_entry(p) : t.next_entry(p))
        v.emplace_back(t.leaf_at(p).base[t.index_at(p)], t.leaf_at(p).val[t.index_at(p)]);
    if (backward)
        std::reverse(v.begin(), v.end());
    return v;
}

// The lowest key whose value is at least v.
bool lowest_at_least(const Tree& t, std::uint64_t v, std::uint64_t& key) {
    Tree::Path p;
    bool found = t.find_lowest(
        p,
        [&](std::uint64_t, std::uint64_t, std::uint64_t m) {
            return m >= v ? aos::core::BTreeStep::enter : aos::core::BTreeStep::skip;
        },
        [&](const Leaf& lf, unsigned& idx) {
            for (unsigned i = 0; i < lf.count; ++i) {
                if (lf.val[i] >= v) {
                    idx = i;
                    return true;
                }
            }
            return false;
        });
    if (found)
        key = t.leaf_at(p).base[t.index_at(p)];
    return found;
}

} // namespace

TEST_CASE("btree: an empty tree") {
    Tree t;
    Tree::Path p;
    CHECK(t.root() == nullptr);
    CHECK_FALSE(t.locate(5, p));
    CHECK_FALSE(t.first_entry(p));
    CHECK(t.insert_position(5, p) == 0);
    CHECK(t.split_nodes(p) == 1);
    CHECK(t.root_summary() == 0);
    CHECK(t.check());
}

TEST_CASE("btree: randomized inserts and erases against std::map") {
    unsigned seed = GENERATE(1u, 2u, 3u);
    INFO("seed " << seed); // printed with any failure
    std::mt19937_64 rng(seed);
    Pool pool;
    Tree t;
    std::map<std::uint64_t, std::uint64_t> model;
    for (int step = 0; step < 3000; ++step) {
        std::uint64_t key = rng() % 1000;
        Tree::Path p;
        bool erase = model.size() > 300 || (!model.empty() && rng() % 3 == 0);
        if (erase) {
            auto it = model.lower_bound(key);
            if (it == model.end())
                it = model.begin();
            REQUIRE(t.locate(it->first, p));
            REQUIRE(t.leaf_at(p).base[t.index_at(p)] == it->first);
            t.erase_at(p, pool);
            model.erase(it);
        } else if (!model.contains(key)) {
            std::uint64_t val = rng() % 10000;
            unsigned pos = t.insert_position(key, p);
            std::size_t before = pool.live;
            std::size_t need = t.split_nodes(p);
            t.insert_at(p, pos, Entry{key, val}, pool);
            REQUIRE(pool.live - before <= need);
            model.emplace(key, val);
        }
        REQUIRE(t.check());
        REQUIRE(t.size() == model.size());
        REQUIRE(t.node_count() == pool.live);
        REQUIRE(contents(t) ==
                std::vector<std::pair<std::uint64_t, std::uint64_t>>(model.begin(), model.end()));
        REQUIRE(contents(t, true) == contents(t));

        std::uint64_t probe = rng() % 1100;
        auto above = model.upper_bound(probe);
        Tree::Path q;
        bool found = t.locate(probe, q);
        REQUIRE(found == (above != model.begin()));
        if (found)
            REQUIRE(t.leaf_at(q).base[t.index_at(q)] == std::prev(above)->first);

        std::uint64_t v = rng() % 10000;
        std::uint64_t got = 0;
        auto want = model.begin();
        while (want != model.end() && want->second < v)
            ++want;
        REQUIRE(lowest_at_least(t, v, got) == (want != model.end()));
        if (want != model.end())
            REQUIRE(got == want->first);
    }
    CHECK(t.height() >= 3);
    std::size_t leaves = 0;
    t.release([&](Leaf&) { ++leaves; }, [&](Node* n) { pool.push(n); });
    CHECK(leaves > 0);
    CHECK(pool.live == 0);
    CHECK(t.root() == nullptr);
}

TEST_CASE("btree: the structural check finds bases out of order, within a leaf and across leaves") {
    Pool pool;
    Tree t;
    for (std::uint64_t key = 10; key <= 200; key += 10) {
        Tree::Path p;
        unsigned pos = t.insert_position(key, p);
        t.insert_at(p, pos, Entry{key, key}, pool);
    }
    REQUIRE(t.check());
    REQUIRE(t.height() >= 2);

    // Within a leaf: swap two entries past the first (the parent's key stays right).
    Tree::Path p;
    REQUIRE(t.first_entry(p));
    Leaf& first = t.leaf_at(p);
    REQUIRE(first.count >= 3);
    std::swap(first.base[1], first.base[2]);
    CHECK_FALSE(t.check());
    std::swap(first.base[1], first.base[2]);
    REQUIRE(t.check());
    // Two equal bases are in order (what equal bases mean is the owner's to check).
    std::uint64_t second = first.base[2];
    first.base[2] = first.base[1];
    CHECK(t.check());
    first.base[2] = second;

    // Across leaves: the first leaf's last entry moves past the second leaf's first.
    std::uint64_t saved = first.base[first.count - 1];
    Tree::Path q;
    t.copy_path(q, p);
    q.idx[t.height() - 1] = first.count - 1;
    REQUIRE(t.next_entry(q));
    first.base[first.count - 1] = t.leaf_at(q).base[0] + 1;
    CHECK_FALSE(t.check());
    first.base[first.count - 1] = saved;
    CHECK(t.check());
    t.release([](Leaf&) {}, [&](Node* n) { pool.push(n); });
    CHECK(pool.live == 0);
}
