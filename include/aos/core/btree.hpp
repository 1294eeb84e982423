// aos::core::BTree: the B+ tree of fixed-size nodes under mm::RegionAllocator and vm::VaddrSpace. Leaves
// hold entries sorted by a 64-bit base; inner nodes hold per child its lowest base and a summary of it
// (a largest free gap) that searches descend by. Its owner supplies the nodes, their layout and what an
// entry and a summary are; the tree never allocates.
//
//   struct Traits {
//       using Node = MyNode;             // raw storage: std::byte storage[...]
//       using Leaf = MyLeaf;             // with std::uint32_t count and std::uint64_t base[leaf_cap]
//       using Entry = MyEntry;           // what insert_at puts in a leaf
//       using Summary = std::uint64_t;   // default-constructible, equality-comparable (or derive
//                                        // from BTreeLargestOf, which gives Summary, leaf_summary, merge)
//       static constexpr std::uint32_t leaf_cap = 6, inner_cap = 10, inner_min = 4;
//       static constexpr int max_height = 36;
//       static Summary leaf_summary(const Leaf&); // of the entries in use
//       static void merge(Summary& into, const Summary& s);
//       static void put(Leaf&, unsigned i, const Entry&);
//       static void move_entry(Leaf& d, unsigned di, Leaf& s, unsigned si);
//       static void vacate(Leaf&, unsigned i); // slot i went out of use (the tree resets its base)
//   };
//   aos::core::BTree<Traits> tree;
//   aos::core::BTree<Traits>::Path p;
//   unsigned pos = tree.insert_position(key, p);
//   if (tree.split_nodes(p) <= batch.count)
//       tree.insert_at(p, pos, entry, batch); // batch.pop() gives a Node*
//   tree.erase_at(p, dead);                   // dead.push(Node*) takes the nodes that went
#pragma once

#include <aos/core/hooks.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>

namespace aos::core {

// An inner node: per child, the lowest base in it, its summary, and the child. Unused keys hold the largest
// key, so a scan may compare all of them.
template <class Node, class Summary, std::size_t Cap>
struct BTreeInner {
    std::uint32_t count = 0;
    std::uint64_t key[Cap] = {};
    Summary sum[Cap] = {};
    Node* child[Cap] = {};
};

template <class T>
concept BTreeTraits = requires(typename T::Leaf& lf, const typename T::Entry& e, typename T::Summary& s,
                               unsigned i) {
    requires std::default_initializable<typename T::Summary> && std::equality_comparable<typename T::Summary>;
    { T::leaf_summary(lf) } -> std::same_as<typename T::Summary>;
    T::merge(s, s);
    T::put(lf, i, e);
    T::move_entry(lf, i, lf, i);
    T::vacate(lf, i);
    requires T::leaf_cap >= 2 && T::inner_min >= 2 && 2 * T::inner_min - 1 <= T::inner_cap;
    requires T::max_height > 0;
};

// The summary most owners want: the largest value of one per-entry field (a free gap, a size) in a subtree.
// A traits type derives from it: struct Traits : aos::core::BTreeLargestOf<&MyLeaf::gap> { ... };
template <auto Field>
struct BTreeLargestOf {
    using Summary = std::uint64_t;
    template <class Leaf>
    static Summary leaf_summary(const Leaf& lf) {
        Summary m = 0;
        for (std::uint32_t i = 0; i < lf.count; ++i)
            m = (lf.*Field)[i] > m ? (lf.*Field)[i] : m;
        return m;
    }
    static void merge(Summary& into, const Summary& s) { into = s > into ? s : into; }
};

// What a lowest-first search does with a child: pass it over, search it, or stop (nothing further right
// can match).
enum class BTreeStep : std::uint8_t { skip, enter, stop };

template <BTreeTraits T>
class BTree {
public:
    using Node = typename T::Node;
    using Leaf = typename T::Leaf;
    using Entry = typename T::Entry;
    using Summary = typename T::Summary;
    using Inner = BTreeInner<Node, Summary, T::inner_cap>;
    static constexpr int max_height = T::max_height;
    static constexpr std::uint32_t leaf_cap = T::leaf_cap;
    static constexpr std::uint32_t inner_cap = T::inner_cap;
    // A leaf goes away only when empty: an erase then never reads a (cold) sibling leaf, and a leaf split
    // while appending can leave the old leaf full. Inner nodes keep at least inner_min children below the
    // root, which bounds the height at O(log n) whatever the leaves hold.
    static constexpr std::uint32_t inner_min = T::inner_min;
    static constexpr std::uint64_t max_key = ~std::uint64_t{0};
    static_assert(sizeof(Leaf) <= sizeof(Node::storage) && sizeof(Inner) <= sizeof(Node::storage),
                  "a node's storage holds a leaf and an inner node");

    // A position in the tree: the node at each level from the root (0) down to the leaf, and the child or
    // entry index taken there. Searches return one; changes work along it.
    struct Path {
        Node* node[max_height];
        unsigned idx[max_height];
    };

    BTree() = default;
    BTree(const BTree&) = delete;
    BTree& operator=(const BTree&) = delete;

    Node* root() const { return root_; }
    int height() const { return height_; }
    std::size_t size() const { return entries_; }
    std::size_t node_count() const { return nodes_; }

    // Of the whole tree; an empty one's is the default summary.
    Summary root_summary() const { return root_ != nullptr ? summary(root_, 0) : Summary{}; }

    Leaf& leaf_at(const Path& p) const { return leaf(p.node[height_ - 1]); }
    // Whether two paths end in the same leaf: a change at one that the other's fix_up, insert_at or erase_at
    // is about to summarize needs no fix_up of its own.
    bool same_leaf(const Path& a, const Path& b) const { return a.node[height_ - 1] == b.node[height_ - 1]; }
    unsigned index_at(const Path& p) const { return p.idx[height_ - 1]; }

    // ---- Navigation.
    // The path to the last entry with base <= key; false when every entry lies above key (the path then
    // still leads to the leftmost leaf).
    bool locate(std::uint64_t key, Path& p) const {
        if (root_ == nullptr)
            return false;
        // Fixed-length, branch-free scans (unused slots hold the largest key); only key == max_key can
        // count an unused slot, hence the clamp.
        Node* n = root_;
        for (int l = 0; l < height_ - 1; ++l) {
            const Inner& in = inner(n);
            unsigned i = 0;
            for (unsigned j = 1; j < inner_cap; ++j)
                i += in.key[j] <= key ? 1 : 0;
            i = i < in.count ? i : in.count - 1;
            p.node[l] = n;
            p.idx[l] = i;
            n = in.child[i];
            prefetch(n);
        }
        const Leaf& lf = leaf(n);
        p.node[height_ - 1] = n;
        p.idx[height_ - 1] = 0;
        if (lf.count == 0 || lf.base[0] > key)
            return false;
        unsigned i = 0;
        for (unsigned j = 1; j < leaf_cap; ++j)
            i += lf.base[j] <= key ? 1 : 0;
        p.idx[height_ - 1] = i < lf.count ? i : lf.count - 1;
        return true;
    }
    // The leaf where an entry at key goes, and its index there.
    unsigned insert_position(std::uint64_t key, Path& p) const {
        if (locate(key, p))
            return index_at(p) + 1;
        return 0; // below every entry: the front of the leftmost leaf (or an empty tree)
    }

    // Paths are copied often; only the levels in use.
    void copy_path(Path& d, const Path& s) const {
        for (int l = 0; l < height_; ++l) {
            d.node[l] = s.node[l];
            d.idx[l] = s.idx[l];
        }
    }

    bool first_entry(Path& p) const {
        if (root_ == nullptr)
            return false;
        p.node[0] = root_;
        p.idx[0] = 0;
        descend_edge(p, 0, false);
        return leaf_at(p).count > 0;
    }
    bool last_entry(Path& p) const {
        if (root_ == nullptr)
            return false;
        p.node[0] = root_;
        p.idx[0] = count_of(root_, 0) - 1;
        descend_edge(p, 0, true);
        return leaf_at(p).count > 0;
    }
    bool next_entry(Path& p) const {
        int l = height_ - 1;
        if (p.idx[l] + 1 < leaf(p.node[l]).count) {
            ++p.idx[l];
            return true;
        }
        int u = l - 1;
        while (u >= 0 && p.idx[u] + 1 >= inner(p.node[u]).count)
            --u;
        if (u < 0)
            return false;
        ++p.idx[u];
        descend_edge(p, u, false);
        return true;
    }
    bool prev_entry(Path& p) const {
        int l = height_ - 1;
        if (p.idx[l] > 0) {
            --p.idx[l];
            return true;
        }
        int u = l - 1;
        while (u >= 0 && p.idx[u] == 0)
            --u;
        if (u < 0)
            return false;
        --p.idx[u];
        descend_edge(p, u, true);
        return true;
    }

    // The lowest entry a search accepts, left to right: descend(key, bound, summary) judges a child (its
    // lowest base, the base its entries stay below, its summary); scan(leaf, idx) picks an entry of a leaf.
    // O(log n) when the summaries rule out the subtrees without a match.
    template <class Descend, class Scan>
    bool find_lowest(Path& p, Descend&& descend, Scan&& scan) const {
        return root_ != nullptr && lowest(root_, 0, max_key, p, descend, scan);
    }

    // ---- Changes.
    // Recomputes the keys and summaries that the ancestors hold for p's leaf, upward, stopping where
    // nothing changed (after an entry's base or summary changed in place).
    void fix_up(const Path& p) { fix_up(p, height_ - 1); }

    // Nodes an insertion at p's leaf needs: one per full node from the leaf up, and a new root when all are.
    std::size_t split_nodes(const Path& p) const {
        if (root_ == nullptr)
            return 1;
        std::size_t need = 0;
        for (int l = height_ - 1; l >= 0; --l) {
            if (count_of(p.node[l], l) < (is_leaf(l) ? leaf_cap : inner_cap))
                return need;
            ++need;
        }
        return need + 1;
    }

    // Inserts e at index pos of p's leaf, splitting full nodes upward with nodes from the batch (as many as
    // split_nodes counted). p is stale afterwards.
    template <class Batch>
    void insert_at(Path& p, unsigned pos, const Entry& e, Batch& batch) {
        if (root_ == nullptr) {
            root_ = make_leaf(batch.pop());
            height_ = 1;
            p.node[0] = root_;
        }
        ++entries_;
        int l = height_ - 1;
        Leaf& lf = leaf(p.node[l]);
        if (lf.count < leaf_cap) {
            leaf_insert(lf, pos, e);
            fix_up(p, l);
            return;
        }
        Node* right = make_leaf(batch.pop());
        // Appending (entries filling the space from the bottom) keeps the old leaf full; otherwise the
        // halves are even.
        unsigned half = pos == leaf_cap ? leaf_cap : (leaf_cap + 1) / 2;
        if (pos < half) {
            move_tail(p.node[l], right, half - 1, l);
            leaf_insert(lf, pos, e);
        } else {
            move_tail(p.node[l], right, half, l);
            leaf_insert(leaf(right), pos - half, e);
        }
        for (;;) {
            // p.node[l] has a new right sibling `right` to link in above it.
            if (l == 0) {
                Node* nr = make_inner(batch.pop());
                Inner& in = inner(nr);
                inner_insert(in, 0, first_key(root_, 0), summary(root_, 0), root_);
                inner_insert(in, 1, first_key(right, 0), summary(right, 0), right);
                AOS_ASSERT(height_ < max_height);
                root_ = nr;
                ++height_;
                return;
            }
            Inner& parent = inner(p.node[l - 1]);
            unsigned s = p.idx[l - 1];
            refresh_slot(parent, s, l);
            std::uint64_t rk = first_key(right, l);
            Summary rm = summary(right, l);
            if (parent.count < inner_cap) {
                inner_insert(parent, s + 1, rk, rm, right);
                fix_up(p, l - 1);
                return;
            }
            Node* sibling = make_inner(batch.pop());
            // As for leaves: an append leaves the old node as full as the new one's minimum allows.
            unsigned ih = s + 1 == inner_cap ? inner_cap + 1 - inner_min : (inner_cap + 1) / 2;
            if (s + 1 < ih) {
                move_tail(p.node[l - 1], sibling, ih - 1, l - 1);
                inner_insert(parent, s + 1, rk, rm, right);
            } else {
                move_tail(p.node[l - 1], sibling, ih, l - 1);
                inner_insert(inner(sibling), s + 1 - ih, rk, rm, right);
            }
            right = sibling;
            --l;
        }
    }

    // Removes the entry p points at; an empty leaf goes, underfull inner nodes borrow from or merge with a
    // sibling, upward. Nodes that go are handed to dead.push(Node*) (the owner gives them back, possibly
    // after dropping its lock). p is stale afterwards.
    template <class Dead>
    void erase_at(Path& p, Dead& dead) {
        int l = height_ - 1;
        leaf_erase(leaf(p.node[l]), p.idx[l]);
        --entries_;
        for (;;) {
            if (l == 0) {
                if (height_ > 1 && inner(root_).count == 1) {
                    Node* old = root_;
                    root_ = inner(old).child[0];
                    kill(old, 0, dead);
                    --height_;
                } else if (height_ == 1 && leaf(root_).count == 0) {
                    kill(root_, 0, dead);
                    root_ = nullptr;
                    height_ = 0;
                }
                return;
            }
            Node* n = p.node[l];
            std::uint32_t minimum = is_leaf(l) ? 1 : inner_min;
            if (count_of(n, l) >= minimum) {
                fix_up(p, l);
                return;
            }
            Inner& parent = inner(p.node[l - 1]);
            unsigned s = p.idx[l - 1];
            if (is_leaf(l)) {
                kill(n, l, dead);
                inner_erase(parent, s);
                --l;
                continue;
            }
            if (s > 0 && count_of(parent.child[s - 1], l) > minimum) {
                Inner& from = inner(parent.child[s - 1]);
                unsigned last = from.count - 1;
                inner_insert(inner(n), 0, from.key[last], from.sum[last], from.child[last]);
                inner_erase(from, last);
                refresh_slot(parent, s - 1, l);
                refresh_slot(parent, s, l);
                fix_up(p, l - 1);
                return;
            }
            if (s + 1 < parent.count && count_of(parent.child[s + 1], l) > minimum) {
                Inner& from = inner(parent.child[s + 1]);
                Inner& to = inner(n);
                inner_insert(to, to.count, from.key[0], from.sum[0], from.child[0]);
                inner_erase(from, 0);
                refresh_slot(parent, s, l);
                refresh_slot(parent, s + 1, l);
                fix_up(p, l - 1);
                return;
            }
            unsigned left = s > 0 ? s - 1 : s;
            AOS_ASSERT(left + 1 < parent.count);
            Node* gone = parent.child[left + 1];
            move_tail(gone, parent.child[left], 0, l);
            kill(gone, l, dead);
            inner_erase(parent, left + 1);
            refresh_slot(parent, left, l);
            --l;
        }
    }

    // ---- Whole-tree walks.
    // The structure: fill, unused slots, bases in order across the whole tree (equal ones allowed: what an
    // entry's base means is its owner's, whose own walk checks the rest), exact keys and summaries, node and
    // entry counts. O(n).
    bool check() const {
        std::size_t nodes = 0;
        std::size_t entries = 0;
        if (root_ != nullptr) {
            std::uint64_t first = 0;
            std::uint64_t last = 0;
            Summary sum{};
            if (!check_subtree(root_, 0, first, last, sum, nodes, entries))
                return false;
        }
        return nodes == nodes_ && entries == entries_ && (root_ == nullptr) == (height_ == 0);
    }

    // Empties the tree: on_leaf(leaf) sees each leaf before it goes, free(Node*) takes every node.
    template <class OnLeaf, class Free>
    void release(OnLeaf&& on_leaf, Free&& free) {
        if (root_ != nullptr)
            release_subtree(root_, 0, on_leaf, free);
        root_ = nullptr;
        height_ = 0;
        entries_ = 0;
        nodes_ = 0;
    }

private:
    static Leaf& leaf(Node* n) { return *std::launder(reinterpret_cast<Leaf*>(n->storage)); }
    static Inner& inner(Node* n) { return *std::launder(reinterpret_cast<Inner*>(n->storage)); }

    // A node is a few lines wide and a visit reads more than one of them (keys, then the chosen child);
    // fetching them all at once turns the misses of a cold node into one wait instead of several.
    static void prefetch(const Node* n) {
        for (std::size_t off = 0; off < sizeof(Node); off += 64)
            __builtin_prefetch(n->storage + off);
    }

    bool is_leaf(int level) const { return level == height_ - 1; }
    std::uint32_t count_of(Node* n, int level) const {
        return is_leaf(level) ? leaf(n).count : inner(n).count;
    }
    std::uint64_t first_key(Node* n, int level) const {
        return is_leaf(level) ? leaf(n).base[0] : inner(n).key[0];
    }
    Summary summary(Node* n, int level) const {
        if (is_leaf(level))
            return T::leaf_summary(leaf(n));
        Summary m{};
        const Inner& in = inner(n);
        for (std::uint32_t i = 0; i < in.count; ++i)
            T::merge(m, in.sum[i]);
        return m;
    }

    template <class Descend, class Scan>
    bool lowest(Node* n, int level, std::uint64_t bound, Path& p, Descend& descend, Scan& scan) const {
        p.node[level] = n;
        if (is_leaf(level))
            return scan(static_cast<const Leaf&>(leaf(n)), p.idx[level]);
        const Inner& in = inner(n);
        for (unsigned i = 0; i < in.count; ++i) {
            std::uint64_t child_bound = i + 1 < in.count ? in.key[i + 1] : bound;
            BTreeStep step = descend(in.key[i], child_bound, in.sum[i]);
            if (step == BTreeStep::stop)
                return false;
            if (step == BTreeStep::skip)
                continue;
            p.idx[level] = i;
            prefetch(in.child[i]);
            if (lowest(in.child[i], level + 1, child_bound, p, descend, scan))
                return true;
        }
        return false;
    }

    Node* make_leaf(Node* n) {
        Leaf& lf = *::new (static_cast<void*>(n->storage)) Leaf();
        for (std::uint64_t& b : lf.base)
            b = max_key; // unused slots: a scan compares all of them and counts none
        ++nodes_;
        return n;
    }
    Node* make_inner(Node* n) {
        Inner& in = *::new (static_cast<void*>(n->storage)) Inner();
        for (std::uint64_t& k : in.key)
            k = max_key;
        ++nodes_;
        return n;
    }
    template <class Dead>
    void kill(Node* n, int level, Dead& dead) {
        if (is_leaf(level))
            leaf(n).~Leaf();
        else
            inner(n).~Inner();
        --nodes_;
        dead.push(n);
    }

    // From p.node[from] and the child p.idx[from] chosen there, down to a leaf along the first children (or
    // the last, with their last entry): the edge of a subtree.
    void descend_edge(Path& p, int from, bool last) const {
        for (int d = from + 1; d < height_; ++d) {
            p.node[d] = inner(p.node[d - 1]).child[p.idx[d - 1]];
            p.idx[d] = last ? count_of(p.node[d], d) - 1 : 0;
        }
    }

    // Recomputes the key and summary that the ancestors hold for p.node[level], upward, stopping where
    // nothing changed.
    void fix_up(const Path& p, int level) {
        for (int l = level; l > 0; --l) {
            Inner& parent = inner(p.node[l - 1]);
            unsigned s = p.idx[l - 1];
            std::uint64_t k = first_key(p.node[l], l);
            Summary m = summary(p.node[l], l);
            if (parent.key[s] == k && parent.sum[s] == m)
                return;
            parent.key[s] = k;
            parent.sum[s] = m;
        }
    }
    void refresh_slot(Inner& parent, unsigned s, int child_level) {
        parent.key[s] = first_key(parent.child[s], child_level);
        parent.sum[s] = summary(parent.child[s], child_level);
    }

    static void leaf_insert(Leaf& lf, unsigned pos, const Entry& e) {
        for (unsigned i = lf.count; i > pos; --i)
            T::move_entry(lf, i, lf, i - 1);
        T::put(lf, pos, e);
        ++lf.count;
    }
    static void leaf_erase(Leaf& lf, unsigned pos) {
        for (unsigned i = pos; i + 1 < lf.count; ++i)
            T::move_entry(lf, i, lf, i + 1);
        --lf.count;
        vacate(lf, lf.count);
    }
    static void vacate(Leaf& lf, unsigned i) {
        lf.base[i] = max_key;
        T::vacate(lf, i);
    }
    static void inner_insert(Inner& in, unsigned pos, std::uint64_t key, const Summary& sum, Node* child) {
        for (unsigned i = in.count; i > pos; --i) {
            in.key[i] = in.key[i - 1];
            in.sum[i] = in.sum[i - 1];
            in.child[i] = in.child[i - 1];
        }
        in.key[pos] = key;
        in.sum[pos] = sum;
        in.child[pos] = child;
        ++in.count;
    }
    static void inner_erase(Inner& in, unsigned pos) {
        for (unsigned i = pos; i + 1 < in.count; ++i) {
            in.key[i] = in.key[i + 1];
            in.sum[i] = in.sum[i + 1];
            in.child[i] = in.child[i + 1];
        }
        --in.count;
        in.key[in.count] = max_key;
    }
    // Moves items [from, count) of n to the end of the (right-hand) node d.
    void move_tail(Node* n, Node* d, unsigned from, int level) {
        if (is_leaf(level)) {
            Leaf& s = leaf(n);
            Leaf& t = leaf(d);
            for (unsigned i = from; i < s.count; ++i)
                T::move_entry(t, t.count++, s, i);
            for (unsigned i = from; i < s.count; ++i)
                vacate(s, i);
            s.count = from;
        } else {
            Inner& s = inner(n);
            Inner& t = inner(d);
            for (unsigned i = from; i < s.count; ++i)
                inner_insert(t, t.count, s.key[i], s.sum[i], s.child[i]);
            for (unsigned i = from; i < s.count; ++i)
                s.key[i] = max_key;
            s.count = from;
        }
    }

    // last: the highest base seen so far, left to right.
    bool check_subtree(Node* n, int level, std::uint64_t& first, std::uint64_t& last, Summary& sum,
                       std::size_t& nodes, std::size_t& entries) const {
        ++nodes;
        std::uint32_t count = count_of(n, level);
        std::uint32_t minimum = is_leaf(level) ? 1 : (level == 0 ? 2 : inner_min);
        if (count < minimum || count > (is_leaf(level) ? leaf_cap : inner_cap))
            return false;
        if (is_leaf(level)) {
            const Leaf& lf = leaf(n);
            for (unsigned i = count; i < leaf_cap; ++i) {
                if (lf.base[i] != max_key)
                    return false;
            }
            for (unsigned i = 0; i < count; ++i) {
                if (lf.base[i] < last)
                    return false;
                last = lf.base[i];
            }
            entries += count;
        } else {
            const Inner& in = inner(n);
            for (unsigned i = count; i < inner_cap; ++i) {
                if (in.key[i] != max_key)
                    return false;
            }
            for (unsigned i = 0; i < count; ++i) {
                std::uint64_t f = 0;
                Summary m{};
                if (!check_subtree(in.child[i], level + 1, f, last, m, nodes, entries))
                    return false;
                if (in.key[i] != f || !(in.sum[i] == m))
                    return false;
            }
        }
        first = first_key(n, level);
        sum = summary(n, level);
        return true;
    }

    template <class OnLeaf, class Free>
    void release_subtree(Node* n, int level, OnLeaf& on_leaf, Free& free) {
        if (is_leaf(level)) {
            Leaf& lf = leaf(n);
            on_leaf(lf);
            lf.~Leaf();
        } else {
            Inner& in = inner(n);
            for (unsigned i = 0; i < in.count; ++i)
                release_subtree(in.child[i], level + 1, on_leaf, free);
            in.~Inner();
        }
        free(n);
    }

    Node* root_ = nullptr; // levels 0 (root) to height_ - 1 (leaves)
    int height_ = 0;
    std::size_t entries_ = 0;
    std::size_t nodes_ = 0;
};

} // namespace aos::core
