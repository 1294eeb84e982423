// aos::core::AvlTree: ordering, errors, probes, augmentation (subtree max and sum), and randomized runs
// checked against std::set / std::multiset with the invariant checker after every step.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/core/avl_tree.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace {

struct Seg {
    aos::core::TreeHook<Seg> hook;
    std::uint64_t key = 0;
    std::uint64_t size = 0;
    std::uint64_t max_size = 0; // augmented: largest size in the subtree
    std::uint64_t sum = 0;      // augmented: total size in the subtree
};

struct SegTraits {
    static bool less(const Seg& a, const Seg& b) { return a.key < b.key; }
    static bool aggregate(Seg& n, const Seg* l, const Seg* r) {
        std::uint64_t m = std::max({n.size, l ? l->max_size : 0, r ? r->max_size : 0});
        std::uint64_t s = n.size + (l ? l->sum : 0) + (r ? r->sum : 0);
        bool changed = m != n.max_size || s != n.sum;
        n.max_size = m;
        n.sum = s;
        return changed;
    }
};
using Tree = aos::core::AvlTree<Seg, &Seg::hook, SegTraits>;

struct MultiTraits {
    static constexpr bool allow_duplicates = true;
    static bool less(const Seg& a, const Seg& b) { return a.key < b.key; }
};
using MultiTree = aos::core::AvlTree<Seg, &Seg::hook, MultiTraits>;

auto probe(std::uint64_t key) {
    return [key](const Seg& s) { return aos::core::three_way(s.key, key); };
}

std::vector<std::uint64_t> keys(const Tree& t) {
    std::vector<std::uint64_t> out;
    for (const Seg& s : t)
        out.push_back(s.key);
    return out;
}

// Lowest key whose size is at least `want`, by descending on the augmented maximum: O(log n).
Seg* first_fit(const Tree& t, std::uint64_t want) {
    Seg* n = t.root();
    if (n == nullptr || n->max_size < want)
        return nullptr;
    for (;;) {
        Seg* l = Tree::left(*n);
        if (l != nullptr && l->max_size >= want)
            n = l;
        else if (n->size >= want)
            return n;
        else
            n = Tree::right(*n);
    }
}

} // namespace

TEST_CASE("insert keeps order, rejects duplicates and linked nodes") {
    std::vector<Seg> nodes(10);
    Tree t;
    for (int i = 0; i < 10; ++i) {
        nodes[i].key = static_cast<std::uint64_t>((i * 7) % 10);
        nodes[i].size = static_cast<std::uint64_t>(i);
        REQUIRE(t.insert(nodes[i]));
    }
    REQUIRE(keys(t) == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    REQUIRE(t.check_invariants());
    Seg dup;
    dup.key = 3;
    REQUIRE(t.insert(dup).error() == aos::Errc::already_exists);
    REQUIRE(t.insert(nodes[0]).error() == aos::Errc::already_linked);
    REQUIRE(t.size() == 10);
    Tree other;
    REQUIRE(other.erase(nodes[0]).error() == aos::Errc::not_linked);
    REQUIRE(t.check_invariants());
    REQUIRE(t.root()->sum == 45);
    REQUIRE(t.root()->max_size == 9);
}

TEST_CASE("update_max takes the largest of its own value and the children's, and reports a change") {
    Seg n, l, r;
    l.max_size = 7;
    r.max_size = 3;
    REQUIRE(aos::core::update_max(n, std::uint64_t{5}, &l, &r, &Seg::max_size));
    REQUIRE(n.max_size == 7);
    REQUIRE_FALSE(aos::core::update_max(n, std::uint64_t{5}, &l, &r, &Seg::max_size)); // unchanged
    REQUIRE(aos::core::update_max(n, std::uint64_t{9}, &l, nullptr, &Seg::max_size));
    REQUIRE(n.max_size == 9);
    REQUIRE(aos::core::update_max(n, std::uint64_t{1}, nullptr, nullptr, &Seg::max_size));
    REQUIRE(n.max_size == 1);
}

TEST_CASE("probes: find, lower_bound, upper_bound, floor") {
    std::vector<Seg> nodes(5);
    Tree t;
    for (int i = 0; i < 5; ++i) {
        nodes[i].key = static_cast<std::uint64_t>(10 * (i + 1)); // 10..50
        REQUIRE(t.insert(nodes[i]));
    }
    REQUIRE(t.find(probe(30)) == &nodes[2]);
    REQUIRE(t.find(probe(31)) == nullptr);
    REQUIRE(t.lower_bound(probe(30)) == &nodes[2]);
    REQUIRE(t.lower_bound(probe(31)) == &nodes[3]);
    REQUIRE(t.lower_bound(probe(51)) == nullptr);
    REQUIRE(t.upper_bound(probe(30)) == &nodes[3]);
    REQUIRE(t.floor(probe(35)) == &nodes[2]);
    REQUIRE(t.floor(probe(5)) == nullptr);
    REQUIRE(t.first() == &nodes[0]);
    REQUIRE(t.last() == &nodes[4]);
    REQUIRE(Tree::next(nodes[4]) == nullptr);
    REQUIRE(Tree::prev(nodes[0]) == nullptr);
    REQUIRE(Tree::prev(nodes[3]) == &nodes[2]);
}

TEST_CASE("update re-establishes aggregates after a node's size changes") {
    std::vector<Seg> nodes(100);
    Tree t;
    for (int i = 0; i < 100; ++i) {
        nodes[i].key = static_cast<std::uint64_t>(i);
        nodes[i].size = 1;
        REQUIRE(t.insert(nodes[i]));
    }
    nodes[63].size = 1000;
    REQUIRE_FALSE(t.check_invariants()); // stale aggregate is detected
    REQUIRE(t.update(nodes[63]));
    REQUIRE(t.check_invariants());
    REQUIRE(t.root()->max_size == 1000);
    REQUIRE(t.root()->sum == 99 + 1000);
    REQUIRE(first_fit(t, 2) == &nodes[63]);
}

TEST_CASE("clear unlinks every node") {
    std::vector<Seg> nodes(50);
    Tree t;
    for (int i = 0; i < 50; ++i) {
        nodes[i].key = static_cast<std::uint64_t>(i);
        REQUIRE(t.insert(nodes[i]));
    }
    t.clear();
    REQUIRE(t.empty());
    for (auto& n : nodes)
        REQUIRE_FALSE(n.hook.linked());
    REQUIRE(t.insert(nodes[7]));
    REQUIRE(t.check_invariants());
}

TEST_CASE("height stays logarithmic for sorted insertion") {
    constexpr int n = 1 << 14;
    std::vector<Seg> nodes(n);
    Tree t;
    for (int i = 0; i < n; ++i) {
        nodes[i].key = static_cast<std::uint64_t>(i);
        REQUIRE(t.insert(nodes[i]));
    }
    REQUIRE(t.check_invariants());
    int depth = 0;
    for (Seg* s = &nodes[n - 1]; s != nullptr; s = Tree::parent(*s))
        ++depth;
    REQUIRE(depth <= 21); // AVL height <= 1.44 log2(n + 2)
}

TEST_CASE("randomized unique tree matches std::set, aggregates and first-fit exact") {
    std::mt19937_64 rng(aos_test::seed("avl randomized unique"));
    constexpr int pool_size = 512;
    std::vector<Seg> pool(pool_size);
    for (int i = 0; i < pool_size; ++i) {
        pool[i].key = static_cast<std::uint64_t>(i) * 3;
        pool[i].size = rng() % 1000;
    }
    Tree t;
    std::set<std::uint64_t> model;
    for (unsigned step = 0; step < aos_test::iterations(20000); ++step) {
        Seg& s = pool[rng() % pool_size];
        unsigned op = rng() % 5;
        if (op < 2) {
            bool fresh = !model.count(s.key);
            REQUIRE(static_cast<bool>(t.insert(s)) == fresh);
            model.insert(s.key);
        } else if (op < 4) {
            bool present = model.count(s.key) != 0;
            REQUIRE(static_cast<bool>(t.erase(s)) == present);
            model.erase(s.key);
        } else if (s.hook.linked()) {
            s.size = rng() % 1000;
            REQUIRE(t.update(s));
        }
        REQUIRE(t.check_invariants());
        REQUIRE(t.size() == model.size());
        if (step % 32 == 0) {
            REQUIRE(keys(t) == std::vector<std::uint64_t>(model.begin(), model.end()));
            std::uint64_t want = rng() % 1000;
            Seg* expect = nullptr;
            for (Seg* x = t.first(); x != nullptr; x = Tree::next(*x)) {
                if (x->size >= want) {
                    expect = x;
                    break;
                }
            }
            REQUIRE(first_fit(t, want) == expect);
            std::uint64_t q = rng() % (pool_size * 3 + 3);
            auto lb = model.lower_bound(q);
            Seg* got = t.lower_bound(probe(q));
            REQUIRE((got == nullptr ? model.end() : model.find(got->key)) == lb);
        }
    }
}

TEST_CASE("randomized multi tree matches std::multiset") {
    std::mt19937_64 rng(aos_test::seed("avl randomized multi"));
    constexpr int pool_size = 256;
    std::vector<Seg> pool(pool_size);
    for (auto& s : pool)
        s.key = rng() % 32; // many duplicates
    MultiTree t;
    std::multiset<std::uint64_t> model;
    for (unsigned step = 0; step < aos_test::iterations(20000); ++step) {
        Seg& s = pool[rng() % pool_size];
        if (rng() % 2 == 0) {
            if (!s.hook.linked()) {
                REQUIRE(t.insert(s));
                model.insert(s.key);
            }
        } else if (s.hook.linked()) {
            REQUIRE(t.erase(s));
            model.erase(model.find(s.key));
        }
        REQUIRE(t.check_invariants());
        if (step % 64 == 0) {
            std::vector<std::uint64_t> got;
            for (const Seg& x : t)
                got.push_back(x.key);
            REQUIRE(got == std::vector<std::uint64_t>(model.begin(), model.end()));
        }
    }
}
