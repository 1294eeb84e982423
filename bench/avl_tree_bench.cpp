// Benchmark: the intrusive augmented AVL tree against std::set on the same random keys, in one process.
// Prints the best of several rounds for each and one RATIO line (how many times faster ours is).
#include <aos/core/avl_tree.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <vector>

namespace {

struct Node {
    aos::core::TreeHook<Node> hook;
    std::uint64_t key = 0;
};
struct Traits {
    static bool less(const Node& a, const Node& b) { return a.key < b.key; }
};
using Tree = aos::core::AvlTree<Node, &Node::hook, Traits>;

constexpr std::size_t count = 100000;
constexpr int rounds = 7;

template <class F>
double best_seconds(F&& f) {
    double best = 1e30;
    for (int r = 0; r < rounds; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = s < best ? s : best;
    }
    return best;
}

} // namespace

int main() {
    std::mt19937_64 rng(12345);
    std::vector<std::uint64_t> keys(count);
    for (auto& k : keys)
        k = rng();
    std::vector<Node> nodes(count);
    for (std::size_t i = 0; i < count; ++i)
        nodes[i].key = keys[i];

    std::uint64_t sink = 0;
    double ours = best_seconds([&] {
        Tree t;
        for (auto& n : nodes)
            (void)t.insert(n);
        for (auto k : keys)
            sink += t.find([k](const Node& n) { return aos::core::three_way(n.key, k); }) != nullptr;
        for (auto& n : nodes)
            (void)t.erase(n);
    });
    double peer = best_seconds([&] {
        std::set<std::uint64_t> s;
        for (auto k : keys)
            s.insert(k);
        for (auto k : keys)
            sink += s.count(k);
        for (auto k : keys)
            s.erase(k);
    });
    std::printf("avl_tree: insert+find+erase of %zu random keys, best of %d rounds\n", count, rounds);
    std::printf("  aos::core::AvlTree (intrusive)  %8.2f ms\n", ours * 1e3);
    std::printf("  std::set (allocating)           %8.2f ms\n", peer * 1e3);
    std::printf("  (checksum %llu)\n", static_cast<unsigned long long>(sink));
    std::printf("RATIO core.avl_insert_find_erase_1e5_vs_std_set %.2f\n", peer / ours);
    return 0;
}
