// Benchmark: aos::vm::PageTable against the classic 512-pointer tree (bench/baselines/), side by side in one
// process. Map then unmap, per 4 KiB page (contiguous and scattered) and for a 1 GiB aligned range; bytes
// of bookkeeping per mapped page. Ends with RATIO lines (how many times better ours is).
#include "baselines/classic_page_table.hpp"
#include "hosted_page_table.hpp"

#include <aos/vm/page_table.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

namespace {

namespace a64 = aos::arch::aarch64;

constexpr std::uint64_t page = 4096;
constexpr std::uint64_t gib = 1ull << 30;
constexpr std::uint64_t base_va = 1ull << 40;
// Scattered pages fall anywhere in this window: at 10^5 pages, a dozen or so per last-level table.
constexpr std::uint64_t scatter_window = 16 * gib;
constexpr int rounds = 5;
const a64::PageAttrs rw{.kernel = a64::prot_rw};

struct Ours : aos::testing::HostedPageTable {
    explicit Ours(std::size_t frames) : HostedPageTable(frames) {
        if (!pt.init())
            std::abort();
    }
};

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Result {
    double map_s = 1e30, unmap_s = 1e30;
    std::size_t metadata = 0, tables = 0;
};

void keep_best(Result& best, double m, double u, std::size_t meta, std::size_t tables) {
    if (m + u < best.map_s + best.unmap_s) {
        best.map_s = m;
        best.unmap_s = u;
    }
    best.metadata = meta;
    best.tables = tables;
}

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "benchmark check failed: %s\n", what);
        std::exit(1);
    }
}

// Pages either contiguous from base_va or distinct random pages in the scatter window.
std::vector<std::uint64_t> pages(std::size_t n, bool scattered, std::mt19937_64& rng) {
    std::vector<std::uint64_t> v(n);
    if (!scattered) {
        for (std::size_t i = 0; i < n; ++i)
            v[i] = base_va + i * page;
        return v;
    }
    std::vector<std::uint64_t> all(scatter_window / page);
    for (std::size_t i = 0; i < all.size(); ++i)
        all[i] = base_va + i * page;
    for (std::size_t i = 0; i < n; ++i)
        std::swap(all[i], all[i + rng() % (all.size() - i)]);
    std::copy(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), v.begin());
    return v;
}

// Ours maps a contiguous run with one call (4 KiB pages only, blocks forbidden), scattered pages one call
// each; the baseline can only go page by page.
Result run_ours(const std::vector<std::uint64_t>& va, bool contiguous, std::size_t frames) {
    Result best;
    for (int r = 0; r < rounds; ++r) {
        Ours o(frames);
        double t0 = now();
        if (contiguous) {
            check(o.pt.map(va[0], va[0], va.size() * page, rw, aos::vm::Blocks::forbidden).has_value(),
                  "map");
        } else {
            for (std::uint64_t p : va)
                check(o.pt.map(p, p, page, rw).has_value(), "map");
        }
        double t1 = now();
        std::size_t meta = o.metadata_bytes(), tables = o.pt.table_count();
        if (contiguous) {
            check(o.pt.unmap(va[0], va.size() * page).has_value(), "unmap");
        } else {
            for (std::uint64_t p : va)
                check(o.pt.unmap(p, page).has_value(), "unmap");
        }
        double t2 = now();
        check(o.pt.table_count() == 1, "tables reclaimed");
        keep_best(best, t1 - t0, t2 - t1, meta, tables);
    }
    return best;
}

Result run_baseline(const std::vector<std::uint64_t>& va, std::size_t frames) {
    Result best;
    for (int r = 0; r < rounds; ++r) {
        baseline::ClassicPageTable b(frames);
        double t0 = now();
        for (std::uint64_t p : va)
            check(b.map_page(p, p, 0x400), "baseline map");
        double t1 = now();
        std::size_t meta = b.metadata_bytes(), tables = b.table_count();
        for (std::uint64_t p : va)
            check(b.unmap_page(p), "baseline unmap");
        double t2 = now();
        keep_best(best, t1 - t0, t2 - t1, meta, tables);
    }
    return best;
}

void print_row(const char* what, std::size_t n, const char* who, const Result& r) {
    double per = (r.map_s + r.unmap_s) / static_cast<double>(n) * 1e9;
    std::printf("%-10s %8zu pages  %-9s map %7.1f ns/page  unmap %7.1f ns/page  map+unmap %7.1f ns/page "
                "(%6.2f M pages/s)  tables %6zu  metadata %9zu B (%7.1f B/page)\n",
                what, n, who, r.map_s / static_cast<double>(n) * 1e9,
                r.unmap_s / static_cast<double>(n) * 1e9, per, 1e3 / per, r.tables, r.metadata,
                static_cast<double>(r.metadata) / static_cast<double>(n));
}

} // namespace

int main() {
    std::mt19937_64 rng(12345);
    double contiguous_ratio = 0, scattered_ratio = 0, metadata_ratio = 0;
    for (bool scattered : {false, true}) {
        for (std::size_t n :
             {std::size_t{1000}, std::size_t{10000}, std::size_t{100000}, std::size_t{1000000}}) {
            auto va = pages(n, scattered, rng);
            // Enough tables for either design: one per 2 MiB touched plus the upper levels.
            std::size_t frames = std::min<std::size_t>(n, scatter_window / (2ull << 20)) + n / 512 + 64;
            Result ours = run_ours(va, !scattered, frames);
            Result base = run_baseline(va, frames);
            const char* what = scattered ? "scattered" : "contiguous";
            print_row(what, n, "aos", ours);
            print_row(what, n, "classic", base);
            if (n == 100000) {
                double ratio = (base.map_s + base.unmap_s) / (ours.map_s + ours.unmap_s);
                (scattered ? scattered_ratio : contiguous_ratio) = ratio;
                if (scattered)
                    metadata_ratio = static_cast<double>(base.metadata) / static_cast<double>(ours.metadata);
            }
        }
    }

    // 1 GiB aligned: one block descriptor for aos, 262144 pages for the baseline.
    Result ours_g, base_g;
    std::vector<std::uint64_t> gva(gib / page);
    for (std::size_t i = 0; i < gva.size(); ++i)
        gva[i] = base_va + i * page;
    for (int r = 0; r < rounds; ++r) {
        Ours o(8);
        double t0 = now();
        check(o.pt.map(base_va, base_va, gib, rw).has_value(), "1 GiB map");
        double t1 = now();
        auto t = o.pt.translate(base_va);
        check(t.has_value() && t->level == 1 && o.pt.table_count() == 2, "one block descriptor");
        std::size_t meta = o.metadata_bytes(), tables = o.pt.table_count();
        check(o.pt.unmap(base_va, gib).has_value(), "1 GiB unmap");
        keep_best(ours_g, t1 - t0, now() - t1, meta, tables);
    }
    base_g = run_baseline(gva, gva.size() / 512 + 8);
    print_row("1GiB", gva.size(), "aos", ours_g);
    print_row("1GiB", gva.size(), "classic", base_g);

    std::printf("RATIO page_table.map_unmap_4k_contiguous_1e5 %.2f\n", contiguous_ratio);
    std::printf("RATIO page_table.map_unmap_4k_scattered_1e5 %.2f\n", scattered_ratio);
    std::printf("RATIO page_table.metadata_scattered_1e5 %.2f\n", metadata_ratio);
    std::printf("RATIO page_table.map_unmap_1g_aligned %.2f\n",
                (base_g.map_s + base_g.unmap_s) / (ours_g.map_s + ours_g.unmap_s));
    return 0;
}
