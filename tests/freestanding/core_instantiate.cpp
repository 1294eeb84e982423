// Instantiates the core containers with kernel-style policies for AArch64, freestanding.
#include <aos/core/avl_tree.hpp>
#include <aos/core/format.hpp>
#include <aos/core/list.hpp>
#include <aos/core/lock.hpp>

#include <cstdint>

namespace {

struct Node {
    aos::core::TreeHook<Node> tree_hook;
    aos::core::ListHook<Node> list_hook;
    std::uint64_t key = 0;
    std::uint64_t max = 0;
};

struct Traits {
    static bool less(const Node& a, const Node& b) { return a.key < b.key; }
    static bool aggregate(Node& n, const Node* l, const Node* r) {
        return aos::core::update_max(n, n.key, l, r, &Node::max);
    }
};

} // namespace

// Exported so the instantiations are kept and linked.
extern "C" bool aos_freestanding_core(Node* nodes, unsigned n, aos::core::FixedString<64>* out) {
    aos::core::AvlTree<Node, &Node::tree_hook, Traits> tree;
    aos::core::IntrusiveList<Node, &Node::list_hook> list;
    aos::core::SpinLock lock;
    aos::core::LockGuard guard(lock);
    for (unsigned i = 0; i < n; ++i) {
        if (!tree.insert(nodes[i]) || !list.push_back(nodes[i]))
            return false;
    }
    aos::core::format_to(*out, "{} {:x}", tree.size(), tree.root() != nullptr ? tree.root()->max : 0);
    for (unsigned i = 0; i < n; ++i) {
        if (!tree.erase(nodes[i]) || !list.erase(nodes[i]))
            return false;
    }
    return tree.check_invariants() && list.check_invariants();
}
