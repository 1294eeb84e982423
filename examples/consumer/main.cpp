// Uses aos from another project: supplies the two hooks, keeps ranges in the augmented AVL tree and reports
// with the formatter. Exits 0 when every check holds.
#include <aos/core/avl_tree.hpp>
#include <aos/core/format.hpp>
#include <aos/core/result.hpp>

#include <cstdio>
#include <cstdlib>

extern "C" void aos_hook_panic(const char* message, const char* file, int line) {
    std::fprintf(stderr, "panic: %s at %s:%d\n", message, file, line);
    std::abort();
}
extern "C" void aos_hook_log(const char* message) {
    std::puts(message);
}

namespace {

struct Range {
    aos::core::TreeHook<Range> hook;
    unsigned long base = 0;
    unsigned long size = 0;
    unsigned long max_size = 0;
};

struct RangeTraits {
    static bool less(const Range& a, const Range& b) { return a.base < b.base; }
    static bool aggregate(Range& n, const Range* l, const Range* r) {
        return aos::core::update_max(n, n.size, l, r, &Range::max_size);
    }
};

struct Stdout {
    void put(char c) { std::putchar(c); }
};

aos::Result<unsigned long> largest(const aos::core::AvlTree<Range, &Range::hook, RangeTraits>& t) {
    if (t.empty())
        return aos::error(aos::Errc::not_found);
    return t.root()->max_size;
}

} // namespace

int main() {
    Range ranges[3] = {};
    ranges[0].base = 0x1000, ranges[0].size = 0x1000;
    ranges[1].base = 0x8000, ranges[1].size = 0x4000;
    ranges[2].base = 0x4000, ranges[2].size = 0x2000;
    aos::core::AvlTree<Range, &Range::hook, RangeTraits> tree;
    for (Range& r : ranges) {
        if (!tree.insert(r))
            return 1;
    }
    Stdout out;
    unsigned long big = largest(tree).value_or(0);
    aos::core::format_to(out, "consumer: {} ranges, largest {:x}, invariants {}\n", tree.size(), big,
                         tree.check_invariants());
    return big == 0x4000 && tree.check_invariants() ? 0 : 1;
}
