// A test init for the memory server: three times, allocate RAM until none is left (largest pieces first)
// and give it all back, checking that free memory returns to where it started; then enough small grants
// that the metadata slab must refill from the server it feeds.
#include "checks.hpp"
#include "memory.hpp"
#include "print.hpp"

#include <new>

namespace {

constinit aos::user::Checks checks{"memserver"};

using namespace aos::abi;

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;
constexpr unsigned max_grants = 128;
// Far more than the metadata of the slab's first chunk takes (a few hundred grants).
constexpr unsigned max_small_grants = 4096;

aos::init::RamGrant grants[max_grants];
aos::init::RamGrant small_grants[max_small_grants];

// Takes everything, largest power of two first; returns how many grants, or max_grants + 1 when out of room.
unsigned exhaust(aos::init::MemoryServer& mm, std::uint64_t& bytes) {
    unsigned n = 0;
    bytes = 0;
    for (std::uint64_t size = 512 * mib; size >= object_granule; size /= 2) {
        for (;;) {
            aos::Result<aos::init::RamGrant> g = mm.alloc(size, object_granule);
            if (!g)
                break;
            if (n == max_grants)
                return max_grants + 1;
            grants[n++] = *g;
            bytes += g->size;
        }
    }
    return n;
}

} // namespace

int main() {
    const BootInfo* bi = aos::sys::require_bootinfo("memserver");
    if (bi == nullptr)
        return 2;
    aos::user::SlotAllocator slots(root_slot_slot_alloc0);
    aos::user::RamSource boot_ram(caddr(root_slot_super, 0), 0, aos::init::MemoryServer::boot_ram_bytes);
    // Static: too large for the stack (its slabs' first memory is inside it).
    alignas(aos::user::PagingState) static unsigned char paging_storage[sizeof(aos::user::PagingState)];
    auto& paging = *::new (paging_storage)
                       aos::user::PagingState(caddr(root_slot_task, task_slot_root_vnode), slots, boot_ram);
    if (!paging.init())
        return 1;
    aos::init::MemoryServer mm(*bi, slots, paging, boot_ram);
    aos::Result<void> started = mm.init();
    checks.check("the server takes every RAM capability", started.has_value());
    if (!started)
        return 1;
    aos::mm::RegionStats start = mm.stats();
    aos::sys::print("memserver: {} MiB free in {} segments\n", start.free / mib, start.free_segments);

    for (unsigned round = 1; round <= 3; ++round) {
        aos::mm::RegionStats before = mm.stats();
        std::size_t refills_before = mm.slab_stats().refills;
        std::uint64_t bytes = 0;
        unsigned n = exhaust(mm, bytes);
        if (n > max_grants) {
            checks.check("room for the grants", false);
            return 1;
        }
        aos::mm::RegionStats empty = mm.stats();
        bool all_used = empty.free == 0 && !mm.alloc(object_granule, object_granule);
        bool freed = true;
        for (unsigned i = 0; i < n; ++i)
            freed = mm.free(grants[i]) && freed;
        aos::mm::RegionStats after = mm.stats();
        std::uint64_t slab_bytes =
            (mm.slab_stats().refills - refills_before) * aos::init::MemoryServer::slab_chunk;
        aos::sys::print(
            "memserver: round {}: {} grants, {} KiB, then {} KiB free again ({} KiB to the slab)\n", round, n,
            bytes / kib, after.free / kib, slab_bytes / kib);
        checks.check("every byte was handed out", all_used && bytes + slab_bytes == before.free);
        checks.check("every grant came back", freed && after.free + slab_bytes == before.free &&
                                                  after.allocated == before.allocated + slab_bytes &&
                                                  mm.check_invariants());
    }
    checks.check("free memory is where it started",
                 mm.stats().free + mm.slab_stats().refills * aos::init::MemoryServer::slab_chunk ==
                     start.free);

    // Small grants until their metadata outgrows what the slab holds, so that it refills from this server.
    std::size_t refills = mm.slab_stats().refills;
    bool small_ok = true;
    unsigned taken = 0;
    while (small_ok && taken < max_small_grants && mm.slab_stats().refills == refills) {
        aos::Result<aos::init::RamGrant> g = mm.alloc(object_granule, object_granule);
        small_ok = g.has_value();
        if (g)
            small_grants[taken++] = *g;
    }
    for (unsigned i = 0; i < taken && small_ok; ++i)
        small_ok = mm.free(small_grants[i]).has_value();
    checks.check("small grants while the slab refills from the server",
                 small_ok && mm.slab_stats().refills > refills && mm.check_invariants());
    aos::sys::print("memserver: slab refills {} (the last after {} small grants), slots in use {}\n",
                    mm.slab_stats().refills, taken, slots.used());
    return checks.finish();
}
