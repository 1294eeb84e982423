// The mapping database: every capability that names memory, ordered so that a capability's copies and
// descendants follow it, and augmented with the subtree's largest end address, so "has descendants",
// "find an overlapping descendant" (before a retype) and revoke run in O(log n) per step.
//
//   struct Cte { aos::core::TreeHook<Cte> mdb_hook; aos::cap::MdbKey mdb_key; std::uint64_t mdb_max_end; ...
//   }; aos::cap::MappingDb<Cte> mdb; AOS_TRY(mdb.insert(ram));                                   //
//   ram.mdb_key = {base, size, depth 0, type} if (mdb.find_overlapping_descendant(ram, b, e)) refuse();   //
//   a retype would overlap what exists mdb.revoke(ram, [](Cte& d) { unmap_and_delete(d); });       // every
//   descendant, deepest last
//
// The capabilities' ranges form a laminar family (any two are disjoint or nested), which retype guarantees:
// a child's range lies inside its parent's, and siblings never overlap.
#pragma once

#include <aos/core/avl_tree.hpp>
#include <aos/core/result.hpp>

#include <concepts>
#include <cstdint>

namespace aos::cap {

// A capability's place in the order. depth counts retypes from an original (copies and mints keep it);
// type orders different kinds of object with the same range and depth deterministically.
struct MdbKey {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    std::uint32_t depth = 0;
    std::uint32_t type = 0;

    std::uint64_t end() const { return base + size; }
    bool contains(const MdbKey& o) const { return o.base >= base && o.end() <= end(); }
    // Whether o descends from a capability with this key: inside its range and retyped further.
    bool is_ancestor_of(const MdbKey& o) const { return contains(o) && o.depth > depth; }
};

// What a capability must carry to be in the database: a tree hook, its key, and room for the augmented
// end. The kernel's capability table entry carries them; hosted tests use a small struct.
template <class T>
concept MdbEntry = requires(T& t) {
    { t.mdb_hook } -> std::same_as<core::TreeHook<T>&>;
    { t.mdb_key } -> std::same_as<MdbKey&>;
    { t.mdb_max_end } -> std::same_as<std::uint64_t&>;
};

template <MdbEntry T>
class MappingDb {
    // Order: base ascending, size descending (a container before what it contains), depth ascending (a
    // parent before its children), type, then identity (copies of one capability are distinct entries).
    static int compare(const T& a, const T& b) {
        const MdbKey& x = a.mdb_key;
        const MdbKey& y = b.mdb_key;
        if (x.base != y.base)
            return x.base < y.base ? -1 : 1;
        if (x.size != y.size)
            return x.size > y.size ? -1 : 1;
        if (x.depth != y.depth)
            return x.depth < y.depth ? -1 : 1;
        if (x.type != y.type)
            return x.type < y.type ? -1 : 1;
        return core::three_way(&a, &b);
    }
    struct Traits {
        static bool less(const T& a, const T& b) { return compare(a, b) < 0; }
        static bool aggregate(T& n, const T* l, const T* r) {
            return core::update_max(n, n.mdb_key.end(), l, r, &T::mdb_max_end);
        }
    };
    using Tree = core::AvlTree<T, &T::mdb_hook, Traits>;

public:
    std::size_t size() const { return tree_.size(); }
    bool contains(const T& c) const { return tree_.contains(c); }

    // Adds a capability. Refused (nothing changed) when its range is empty or wraps, when it is linked
    // already, or when it would break the laminar order: it must not partly overlap an entry.
    Result<void> insert(T& c) {
        const MdbKey& k = c.mdb_key;
        if (k.size == 0)
            return error(Errc::zero_size);
        if (k.base + k.size < k.base)
            return error(Errc::overflow);
        if (c.mdb_hook.linked())
            return error(Errc::already_linked);
        if (partly_overlaps(k))
            return error(Errc::overlap);
        return tree_.insert(c);
    }

    Result<void> remove(T& c) { return tree_.erase(c); }

    // Some descendant of c exists.
    bool has_descendants(const T& c) const { return first_descendant(c) != nullptr; }

    // A descendant of c overlapping [lo, hi), or null. O(log n) plus the entries met on the way that
    // overlap but are not descendants: c's ancestors and copies, at most the depth of c and its copy count.
    T* find_overlapping_descendant(const T& c, std::uint64_t lo, std::uint64_t hi) const {
        if (lo >= hi)
            return nullptr;
        return first_overlapping(tree_.root(), lo, hi,
                                 [&](const T& n) { return c.mdb_key.is_ancestor_of(n.mdb_key); });
    }

    // Removes every descendant of c, handing each to `gone` after it left the database (the kernel unmaps
    // and deletes it there). Deepest entries are not guaranteed to go first: `gone` must not look the
    // database up for the ones still to come. Returns how many went.
    template <class F>
    std::size_t revoke(const T& c, F&& gone) {
        std::size_t count = 0;
        while (T* d = first_descendant(c)) {
            (void)tree_.erase(*d);
            gone(*d);
            ++count;
        }
        return count;
    }

    // The first descendant of c in the order (the laminar order puts all of c's descendants right behind
    // c's copies), or null. A kernel that must act on each descendant before it
    // leaves the database (is it the last copy of its object?) removes them one by one with this.
    T* first_descendant(const T& c) const {
        const MdbKey& k = c.mdb_key;
        T* n = tree_.upper_bound([&](const T& x) {
            const MdbKey& y = x.mdb_key;
            if (y.base != k.base)
                return y.base < k.base ? -1 : 1;
            if (y.size != k.size)
                return y.size > k.size ? -1 : 1;
            return y.depth <= k.depth ? -1 : 1; // everything at c's depth or above orders before the probe
        });
        return n != nullptr && k.is_ancestor_of(n->mdb_key) ? n : nullptr;
    }

    // The entry after c in the order, or null: to walk c's descendants from first_descendant.
    static T* next(const T& c) { return Tree::next(c); }

    // The first entry in order overlapping [lo, hi) for which pred holds, or null; O(log n) plus the
    // overlapping entries that fail pred. For questions that start from an address rather than a capability
    // (which mapping capabilities point into this page table?).
    template <class Pred>
    T* find_overlapping(std::uint64_t lo, std::uint64_t hi, Pred&& pred) const {
        if (lo >= hi)
            return nullptr;
        return first_overlapping(tree_.root(), lo, hi, pred);
    }

    // Copies of c (same key but identity), for "is this the last copy" before a delete.
    bool has_copies(const T& c) const {
        const T* p = Tree::prev(c);
        const T* n = Tree::next(c);
        return (p != nullptr && same_key(*p, c)) || (n != nullptr && same_key(*n, c));
    }

    // Tree invariants, the augmented ends, and the laminar order: each entry lies inside, or entirely after,
    // the entries before it.
    [[nodiscard]] bool check_invariants() const {
        if (!tree_.check_invariants())
            return false;
        const T* prev = nullptr;
        for (const T* n = tree_.first(); n != nullptr; n = Tree::next(*n)) {
            if (prev != nullptr && n->mdb_key.base < prev->mdb_key.end() &&
                n->mdb_key.end() > prev->mdb_key.end())
                return false;
            prev = n;
        }
        return true;
    }

private:
    static bool same_key(const T& a, const T& b) {
        return a.mdb_key.base == b.mdb_key.base && a.mdb_key.size == b.mdb_key.size &&
               a.mdb_key.depth == b.mdb_key.depth && a.mdb_key.type == b.mdb_key.type;
    }

    // Whether an entry with key k would partly overlap an existing entry (overlap without nesting).
    bool partly_overlaps(const MdbKey& k) const {
        const T* hit = first_overlapping(tree_.root(), k.base, k.end(), [&](const T& n) {
            const MdbKey& e = n.mdb_key;
            return !(e.contains(k) || k.contains(e));
        });
        return hit != nullptr;
    }

    // The first entry in order overlapping [lo, hi) that satisfies pred, pruning subtrees whose largest end
    // is at or below lo. Entries are ordered by base, so the right subtree of an entry at or past hi is
    // skipped too.
    template <class Pred>
    static T* first_overlapping(T* n, std::uint64_t lo, std::uint64_t hi, Pred&& pred) {
        if (n == nullptr || n->mdb_max_end <= lo)
            return nullptr;
        if (T* l = first_overlapping(Tree::left(*n), lo, hi, pred))
            return l;
        if (n->mdb_key.base >= hi)
            return nullptr;
        if (n->mdb_key.end() > lo && pred(*n))
            return n;
        return first_overlapping(Tree::right(*n), lo, hi, pred);
    }

    Tree tree_;
};

} // namespace aos::cap
