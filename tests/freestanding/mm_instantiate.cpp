// Instantiates the memory library with kernel-style policies for AArch64, freestanding: a slab over a
// static arena feeding region allocators of every fit policy and a virtual address space, under spin locks.
#include <aos/core/lock.hpp>
#include <aos/mm/region_allocator.hpp>
#include <aos/mm/slab.hpp>
#include <aos/vm/vaddr_space.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace {

using Node = aos::mm::RegionNode<aos::mm::RangeCap>;
using NodeSlab = aos::mm::Slab<Node, aos::mm::ArenaRefill, aos::core::SpinLock>;

template <class Fit>
bool exercise(NodeSlab& slab, std::uint64_t base, std::uint64_t size) {
    aos::mm::RangeCaps caps;
    aos::mm::RegionAllocator<aos::mm::RangeCaps, NodeSlab, Fit, aos::core::SpinLock> ra(caps, slab);
    if (!ra.add(aos::mm::RangeCap{base, size}, base, size))
        return false;
    auto a = ra.alloc(3 * aos::arch::page_size, 4 * aos::arch::page_size);
    if (!a || !ra.free(a->base + aos::arch::page_size, aos::arch::page_size))
        return false;
    auto b = ra.alloc_in_range(aos::arch::page_size, aos::arch::page_size, base, base + size);
    return b && ra.free(a->base, aos::arch::page_size) && ra.check_invariants() && ra.stats().allocated != 0;
}

bool exercise_vaddr(std::byte* arena, std::size_t arena_size) {
    constexpr std::uint64_t page = aos::arch::page_size;
    aos::mm::ArenaRefill refill{std::span<std::byte>(arena, arena_size)};
    aos::mm::Slab<aos::vm::VaddrNode, aos::mm::ArenaRefill, aos::core::SpinLock> slab(refill, {});
    aos::vm::VaddrSpace<decltype(slab), aos::core::SpinLock> vs(slab, page, std::uint64_t{1} << 39);
    auto heap = vs.reserve(1 << 20, page, aos::vm::Backing::Lazy, 1);
    if (!heap || !vs.reserve_at(std::uint64_t{1} << 32, page))
        return false;
    auto p = vs.fault(*heap + 5);
    if (!p || !vs.mark_backed(*p, page))
        return false;
    // Given back and touched again.
    std::uint64_t dropped = 0;
    if (!vs.unback(*p, page, [&](std::uint64_t, std::uint64_t size) { dropped += size; }) ||
        dropped != page || !vs.mark_backed(*p, page))
        return false;
    std::uint64_t unmapped = 0;
    bool released =
        vs.release(*heap, [&](std::uint64_t, std::uint64_t size) { unmapped += size; }).has_value();
    return released && unmapped == page && vs.check_invariants();
}

} // namespace

// Exported so the instantiations are kept and linked.
extern "C" bool aos_freestanding_mm(std::byte* arena, std::size_t arena_size, std::uint64_t base,
                                    std::uint64_t size) {
    // The first half feeds the region allocators' nodes, the second the address space's.
    aos::mm::ArenaRefill refill{std::span<std::byte>(arena, arena_size / 2)};
    NodeSlab slab(refill, {.chunk_bytes = 16384, .low_water = 8}); // 31 nodes of 512 bytes a chunk
    return exercise<aos::mm::FirstFit>(slab, base, size) && exercise<aos::mm::BestFit>(slab, base, size) &&
           exercise<aos::mm::NextFit>(slab, base, size) && slab.check_invariants() &&
           exercise_vaddr(arena + arena_size / 2, arena_size / 2);
}
