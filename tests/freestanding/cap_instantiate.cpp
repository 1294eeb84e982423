// Instantiates the mapping database with a kernel-style capability entry for AArch64, freestanding.
#include <aos/cap/mapping_db.hpp>

#include <cstdint>

namespace {
struct Cte {
    aos::core::TreeHook<Cte> mdb_hook;
    aos::cap::MdbKey mdb_key;
    std::uint64_t mdb_max_end = 0;
};
} // namespace

extern "C" unsigned long aos_freestanding_cap(Cte* ctes, unsigned n) {
    aos::cap::MappingDb<Cte> mdb;
    for (unsigned i = 0; i < n; ++i) {
        if (!mdb.insert(ctes[i]))
            return 0;
    }
    bool busy = mdb.has_descendants(ctes[0]) || mdb.find_overlapping_descendant(ctes[0], 0, 4096) != nullptr;
    unsigned long gone = mdb.revoke(ctes[0], [](Cte&) {});
    return mdb.check_invariants() ? gone + (busy ? 1 : 0) : 0;
}
