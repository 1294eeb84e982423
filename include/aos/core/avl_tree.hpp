// Intrusive AVL tree with an optional augmentation hook: each node may keep a value computed from itself
// and its subtrees (subtree maximum, subtree sum), which makes searches such as "lowest free range of at
// least n bytes" O(log n). Nodes carry their TreeHook; the tree never allocates.
//
//   struct Seg { aos::core::TreeHook<Seg> hook; std::uint64_t base, size, max_size; };
//   struct SegTraits {
//       static bool less(const Seg& a, const Seg& b) { return a.base < b.base; }
//       // Recomputes n's augmented value from its children; returns whether it changed.
//       static bool aggregate(Seg& n, const Seg* l, const Seg* r) {
//           return aos::core::update_max(n, n.size, l, r, &Seg::max_size);
//       }
//   };
//   aos::core::AvlTree<Seg, &Seg::hook, SegTraits> tree;
//   Seg* s = tree.floor([&](const Seg& x) { return three_way(x.base, addr); });  // last base <= addr
#pragma once

#include <aos/core/result.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace aos::core {

// Ordering of nodes. `less` must be a strict weak order that does not change while a node is linked.
// Optional: `static constexpr bool allow_duplicates = true;` to keep equal keys (inserted after their
// equals); otherwise insert of an equal key fails with already_exists.
template <class Tr, class T>
concept TreeTraits = requires(const T& a, const T& b) {
    { Tr::less(a, b) } -> std::convertible_to<bool>;
};

// Traits that also maintain an augmented value per node.
template <class Tr, class T>
concept AggregatingTreeTraits = TreeTraits<Tr, T> && requires(T& n, const T* l, const T* r) {
    { Tr::aggregate(n, l, r) } -> std::convertible_to<bool>;
};

// Three-way result of a key probe: negative when the node orders before the key, zero when equal,
// positive when after.
template <class F, class T>
concept TreeProbe = requires(F f, const T& n) {
    { f(n) } -> std::convertible_to<int>;
};

template <class A, class B>
constexpr int three_way(const A& a, const B& b) {
    return a < b ? -1 : (b < a ? 1 : 0);
}

// The most common aggregate: the largest of a node's own value and its children's stored maxima (a subtree
// maximum of free size, gap or end address). Stores it in n.*stored and says whether it changed, which is
// what an `aggregate` trait returns.
//
//   static bool aggregate(Seg& n, const Seg* l, const Seg* r) {
//       return aos::core::update_max(n, n.size, l, r, &Seg::max_size);
//   }
template <class T, class V>
constexpr bool update_max(T& n, std::type_identity_t<V> own, const std::type_identity_t<T>* l,
                          const std::type_identity_t<T>* r, V T::* stored) {
    V m = own;
    if (l != nullptr && l->*stored > m)
        m = l->*stored;
    if (r != nullptr && r->*stored > m)
        m = r->*stored;
    bool changed = n.*stored != m;
    n.*stored = m;
    return changed;
}

template <class T>
class TreeHook {
public:
    TreeHook() = default;
    TreeHook(const TreeHook&) = delete;
    TreeHook& operator=(const TreeHook&) = delete;

    bool linked() const { return owner_ != nullptr; }

private:
    template <class U, TreeHook<U> U::*, class Tr>
        requires TreeTraits<Tr, U>
    friend class AvlTree;

    T* parent_ = nullptr;
    T* left_ = nullptr;
    T* right_ = nullptr;
    const void* owner_ = nullptr;
    std::int32_t height_ = 0; // leaf = 1
};

template <class T, TreeHook<T> T::* Hook, class Traits>
    requires TreeTraits<Traits, T>
class AvlTree {
    static constexpr bool aggregating = AggregatingTreeTraits<Traits, T>;
    static constexpr bool duplicates = [] {
        if constexpr (requires { Traits::allow_duplicates; })
            return static_cast<bool>(Traits::allow_duplicates);
        else
            return false;
    }();

public:
    class Iterator {
    public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        Iterator() = default;
        explicit Iterator(T* n) : node_(n) {}
        T& operator*() const { return *node_; }
        T* operator->() const { return node_; }
        Iterator& operator++() {
            node_ = AvlTree::next(*node_);
            return *this;
        }
        Iterator operator++(int) {
            Iterator old = *this;
            ++*this;
            return old;
        }
        bool operator==(const Iterator&) const = default;

    private:
        T* node_ = nullptr;
    };

    AvlTree() = default;
    AvlTree(const AvlTree&) = delete;
    AvlTree& operator=(const AvlTree&) = delete;

    bool empty() const { return root_ == nullptr; }
    std::size_t size() const { return size_; }
    T* root() const { return root_; }
    bool contains(const T& n) const { return (n.*Hook).owner_ == this; }

    // Structure, for augmented searches that descend by the aggregate.
    static T* left(const T& n) { return (n.*Hook).left_; }
    static T* right(const T& n) { return (n.*Hook).right_; }
    static T* parent(const T& n) { return (n.*Hook).parent_; }

    T* first() const { return root_ != nullptr ? leftmost(root_) : nullptr; }
    T* last() const { return root_ != nullptr ? rightmost(root_) : nullptr; }
    static T* next(const T& n) {
        if (T* r = right(n))
            return leftmost(r);
        const T* c = &n;
        T* p = parent(n);
        while (p != nullptr && right(*p) == c) {
            c = p;
            p = parent(*p);
        }
        return p;
    }
    static T* prev(const T& n) {
        if (T* l = left(n))
            return rightmost(l);
        const T* c = &n;
        T* p = parent(n);
        while (p != nullptr && left(*p) == c) {
            c = p;
            p = parent(*p);
        }
        return p;
    }

    Iterator begin() const { return Iterator(first()); }
    Iterator end() const { return Iterator(nullptr); }

    Result<void> insert(T& n) {
        if ((n.*Hook).linked())
            return error(Errc::already_linked);
        T* p = nullptr;
        bool go_left = false;
        for (T* cur = root_; cur != nullptr;) {
            p = cur;
            if (Traits::less(n, *cur)) {
                go_left = true;
                cur = left(*cur);
            } else {
                if constexpr (!duplicates) {
                    if (!Traits::less(*cur, n))
                        return error(Errc::already_exists);
                }
                go_left = false;
                cur = right(*cur);
            }
        }
        TreeHook<T>& h = n.*Hook;
        h.parent_ = p;
        h.left_ = h.right_ = nullptr;
        h.height_ = 1;
        h.owner_ = this;
        if (p == nullptr)
            root_ = &n;
        else if (go_left)
            (p->*Hook).left_ = &n;
        else
            (p->*Hook).right_ = &n;
        ++size_;
        refresh(&n); // the new leaf's own aggregate
        retrace(p);
        return ok();
    }

    Result<void> erase(T& z) {
        if (!contains(z))
            return error(Errc::not_linked);
        T* start = nullptr;
        T* moved = nullptr;
        if (left(z) == nullptr || right(z) == nullptr) {
            T* child = left(z) != nullptr ? left(z) : right(z);
            T* p = parent(z);
            if (child != nullptr)
                (child->*Hook).parent_ = p;
            replace_child(p, &z, child);
            start = p;
        } else {
            // Two children: the in-order successor y (no left child) takes z's place in the tree.
            T* y = leftmost(right(z));
            if (parent(*y) == &z) {
                start = y;
            } else {
                start = parent(*y);
                (start->*Hook).left_ = right(*y);
                if (right(*y) != nullptr)
                    (right(*y)->*Hook).parent_ = start;
                (y->*Hook).right_ = right(z);
                (right(z)->*Hook).parent_ = y;
            }
            (y->*Hook).left_ = left(z);
            (left(z)->*Hook).parent_ = y;
            (y->*Hook).parent_ = parent(z);
            replace_child(parent(z), &z, y);
            (y->*Hook).height_ = (z.*Hook).height_;
            moved = y;
        }
        TreeHook<T>& h = z.*Hook;
        h.parent_ = h.left_ = h.right_ = nullptr;
        h.height_ = 0;
        h.owner_ = nullptr;
        --size_;
        retrace(start, moved);
        return ok();
    }

    // Re-establishes the aggregates on the path from n to the root after n's own aggregated inputs changed
    // (its key must not have changed).
    Result<void> update(T& n) {
        if (!contains(n))
            return error(Errc::not_linked);
        for (T* cur = &n; cur != nullptr && refresh(cur); cur = parent(*cur))
            ;
        return ok();
    }

    // Key probes: probe(node) < 0 when node orders before the key, 0 when equal, > 0 after.
    template <TreeProbe<T> F>
    T* find(F probe) const {
        T* cur = root_;
        while (cur != nullptr) {
            int c = probe(*cur);
            if (c == 0)
                return cur;
            cur = c < 0 ? right(*cur) : left(*cur);
        }
        return nullptr;
    }
    // First node not ordered before the key.
    template <TreeProbe<T> F>
    T* lower_bound(F probe) const {
        T* best = nullptr;
        for (T* cur = root_; cur != nullptr;) {
            if (probe(*cur) >= 0) {
                best = cur;
                cur = left(*cur);
            } else {
                cur = right(*cur);
            }
        }
        return best;
    }
    // First node ordered after the key.
    template <TreeProbe<T> F>
    T* upper_bound(F probe) const {
        T* best = nullptr;
        for (T* cur = root_; cur != nullptr;) {
            if (probe(*cur) > 0) {
                best = cur;
                cur = left(*cur);
            } else {
                cur = right(*cur);
            }
        }
        return best;
    }
    // Last node not ordered after the key.
    template <TreeProbe<T> F>
    T* floor(F probe) const {
        T* best = nullptr;
        for (T* cur = root_; cur != nullptr;) {
            if (probe(*cur) <= 0) {
                best = cur;
                cur = right(*cur);
            } else {
                cur = left(*cur);
            }
        }
        return best;
    }

    // Unlinks every node (O(n)); the nodes' memory stays the caller's.
    void clear() {
        T* n = root_;
        while (n != nullptr) {
            if (left(*n) != nullptr) {
                n = left(*n);
            } else if (right(*n) != nullptr) {
                n = right(*n);
            } else {
                T* p = parent(*n);
                if (p != nullptr) {
                    if (left(*p) == n)
                        (p->*Hook).left_ = nullptr;
                    else
                        (p->*Hook).right_ = nullptr;
                }
                TreeHook<T>& h = n->*Hook;
                h.parent_ = nullptr;
                h.height_ = 0;
                h.owner_ = nullptr;
                n = p;
            }
        }
        root_ = nullptr;
        size_ = 0;
    }

    // Checks order, parent links, ownership, heights, AVL balance, aggregates and the node count.
    [[nodiscard]] bool check_invariants() const {
        std::size_t count = 0;
        if (root_ != nullptr && parent(*root_) != nullptr)
            return false;
        if (check_subtree(root_, count) < 0)
            return false;
        if (count != size_)
            return false;
        const T* prev_node = nullptr;
        for (const T* n = first(); n != nullptr; n = next(*n)) {
            if (prev_node != nullptr && Traits::less(*n, *prev_node))
                return false;
            if constexpr (!duplicates) {
                if (prev_node != nullptr && !Traits::less(*prev_node, *n))
                    return false;
            }
            prev_node = n;
        }
        return true;
    }

private:
    static T* leftmost(T* n) {
        while (left(*n) != nullptr)
            n = left(*n);
        return n;
    }
    static T* rightmost(T* n) {
        while (right(*n) != nullptr)
            n = right(*n);
        return n;
    }
    static std::int32_t height(const T* n) { return n != nullptr ? (n->*Hook).height_ : 0; }
    static std::int32_t balance(const T* n) { return height(left(*n)) - height(right(*n)); }

    // Recomputes n's height and aggregate from its children; returns whether either changed.
    static bool refresh(T* n) {
        std::int32_t hl = height(left(*n));
        std::int32_t hr = height(right(*n));
        std::int32_t h = 1 + (hl > hr ? hl : hr);
        bool changed = (n->*Hook).height_ != h;
        (n->*Hook).height_ = h;
        if constexpr (aggregating)
            changed = static_cast<bool>(Traits::aggregate(*n, left(*n), right(*n))) || changed;
        return changed;
    }

    void replace_child(T* p, T* old_child, T* new_child) {
        if (p == nullptr)
            root_ = new_child;
        else if (left(*p) == old_child)
            (p->*Hook).left_ = new_child;
        else
            (p->*Hook).right_ = new_child;
    }

    // Rotations return the new root of the rotated subtree and keep heights and aggregates exact.
    T* rotate_left(T* x) {
        T* y = right(*x);
        T* b = left(*y);
        (x->*Hook).right_ = b;
        if (b != nullptr)
            (b->*Hook).parent_ = x;
        (y->*Hook).parent_ = parent(*x);
        replace_child(parent(*x), x, y);
        (y->*Hook).left_ = x;
        (x->*Hook).parent_ = y;
        refresh(x);
        refresh(y);
        return y;
    }
    T* rotate_right(T* x) {
        T* y = left(*x);
        T* b = right(*y);
        (x->*Hook).left_ = b;
        if (b != nullptr)
            (b->*Hook).parent_ = x;
        (y->*Hook).parent_ = parent(*x);
        replace_child(parent(*x), x, y);
        (y->*Hook).right_ = x;
        (x->*Hook).parent_ = y;
        refresh(x);
        refresh(y);
        return y;
    }

    // Walks from n towards the root, refreshing heights and aggregates and rotating where a node is
    // unbalanced. Ancestors depend only on their children's height and aggregate, so the walk stops at the
    // first node where neither changed and no rotation happened -- but never before passing `must_reach`
    // (a node that moved and whose aggregate is stale regardless).
    void retrace(T* n, const T* must_reach = nullptr) {
        bool reached = must_reach == nullptr;
        while (n != nullptr) {
            bool changed = refresh(n);
            if (n == must_reach) {
                // Its parent's values were computed from the node it replaced: always go one step further.
                reached = true;
                changed = true;
            }
            std::int32_t bf = balance(n);
            if (bf > 1) {
                if (balance(left(*n)) < 0)
                    rotate_left(left(*n));
                n = rotate_right(n);
                changed = true;
            } else if (bf < -1) {
                if (balance(right(*n)) > 0)
                    rotate_right(right(*n));
                n = rotate_left(n);
                changed = true;
            }
            if (!changed && reached)
                return;
            n = parent(*n);
        }
    }

    // Returns the subtree height, or -1 if anything below is inconsistent.
    std::int32_t check_subtree(T* n, std::size_t& count) const {
        if (n == nullptr)
            return 0;
        if ((n->*Hook).owner_ != this)
            return -1;
        ++count;
        if (count > size_)
            return -1;
        T* l = left(*n);
        T* r = right(*n);
        if ((l != nullptr && parent(*l) != n) || (r != nullptr && parent(*r) != n))
            return -1;
        std::int32_t hl = check_subtree(l, count);
        std::int32_t hr = check_subtree(r, count);
        if (hl < 0 || hr < 0 || hl - hr > 1 || hr - hl > 1)
            return -1;
        std::int32_t h = 1 + (hl > hr ? hl : hr);
        if ((n->*Hook).height_ != h)
            return -1;
        if constexpr (aggregating) {
            // Recomputing an exact aggregate changes nothing; a change means it was stale.
            if (Traits::aggregate(*n, l, r))
                return -1;
        }
        return h;
    }

    T* root_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace aos::core
