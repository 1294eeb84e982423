// init's memory server (memory.hpp).
#include "memory.hpp"

namespace aos::init {

namespace {
constexpr std::uint64_t page = abi::object_granule;

std::uint64_t round_up(std::uint64_t v, std::uint64_t to) {
    return (v + to - 1) & ~(to - 1);
}
} // namespace

Result<RamCap> RamCapPolicy::retype(const RamCap& original, std::uint64_t offset, std::uint64_t size) {
    user::SlotAllocator::Slot s = AOS_TRY(slots->alloc());
    Result<void> r = sys::cap_retype(original.slot.addr(), abi::ObjType::ram, original.offset + offset, size,
                                     1, s.cnode, s.index);
    if (!r) {
        slots->free(s);
        return error(r.error());
    }
    return RamCap{s, 0};
}

void RamCapPolicy::destroy(const RamCap& c) {
    (void)sys::cap_delete(c.slot.addr());
    slots->free(c.slot);
}

Result<std::span<std::byte>> FrameRefill::refill(std::size_t bytes) {
    return server->map_heap(bytes);
}

MemoryServer::MemoryServer(const abi::BootInfo& bi, user::SlotAllocator& slots, user::PagingState& paging,
                           user::RamSource& boot_ram)
    : bi_(bi), slots_(slots), paging_(paging), boot_ram_(boot_ram), caps_{&slots}, refill_{this},
      slab_(refill_, {.chunk_bytes = slab_chunk, .low_water = 16}), allocator_(caps_, slab_) {}

// Slab memory: a grant from this server (which may need slab nodes itself: the slab's reserve serves those),
// retyped into a frame and mapped by the paging state. It is never given back.
Result<std::span<std::byte>> MemoryServer::map_heap(std::size_t bytes) {
    std::uint64_t size = round_up(bytes, page);
    RamGrant g = AOS_TRY(alloc(size, page));
    Result<user::SlotAllocator::Slot> frame = slots_.alloc();
    Result<std::uint64_t> va = frame && sys::cap_retype(g.cap.slot.addr(), abi::ObjType::frame, 0, size, 1,
                                                        frame->cnode, frame->index)
                                   ? paging_.map(frame->addr(), size, abi::right_read | abi::right_write)
                                   : Result<std::uint64_t>(error(Errc::no_memory));
    if (!va) {
        if (frame) {
            (void)sys::cap_delete(frame->addr());
            slots_.free(*frame);
        }
        (void)free(g);
        return error(Errc::no_memory);
    }
    return std::span<std::byte>(reinterpret_cast<std::byte*>(*va), size);
}

Result<void> MemoryServer::init() {
    // The slab's first chunk cannot come from the allocator it feeds: it comes from the boot RAM.
    user::SlotAllocator::Slot first = AOS_TRY(boot_ram_.retype(slots_, abi::ObjType::frame, slab_chunk));
    std::uint64_t va = AOS_TRY(paging_.map(first.addr(), slab_chunk, abi::right_read | abi::right_write));
    AOS_TRY(slab_.grow(std::span<std::byte>(reinterpret_cast<std::byte*>(va), slab_chunk)));
    for (std::uint32_t i = 0; i < bi_.free_ram_count; ++i) {
        std::uint64_t skip = i == 0 ? round_up(boot_ram_.end(), page) : 0;
        if (skip >= bi_.free_ram[i].size)
            continue;
        RamCap original{{abi::root_slot_super, i}, skip};
        AOS_TRY(allocator_.add(original, bi_.free_ram[i].base + skip, bi_.free_ram[i].size - skip));
    }
    return ok();
}

Result<RamGrant> MemoryServer::alloc(std::uint64_t size, std::uint64_t align) {
    if (size == 0)
        return error(Errc::zero_size);
    if (size > ~std::uint64_t{0} - page)
        return error(Errc::overflow);
    std::uint64_t a = align < page ? page : align;
    Allocator::Alloc got = AOS_TRY(allocator_.alloc(round_up(size, page), a));
    return RamGrant{got.base, got.size, got.cap};
}

Result<void> MemoryServer::free(const RamGrant& g) {
    return allocator_.free(g.cap, g.base, g.size);
}

} // namespace aos::init
