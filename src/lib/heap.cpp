// The process heap (heap.hpp): a first-fit free list with coalescing over a lazily backed region.
#include "heap.hpp"

#include "cap_vspace.hpp"
#include "print.hpp"
#include "sync.hpp"

#include <aos/core/hooks.hpp>

#include <new>

namespace aos::heap {

namespace {

constexpr std::uint64_t page = abi::object_granule;
constexpr std::size_t align = 16;
constexpr std::uint64_t backing_chunk = 16 * page;

// One block: its size (header included) and, while free, the next free block (address order).
struct Block {
    std::size_t size;
    Block* next;
};
static_assert(sizeof(Block) == align);

struct State {
    bool ready = false;
    user::SlotAllocator slots{abi::root_slot_slot_alloc0};
    user::RamSource ram{0, 0, 0};
    user::CapVSpace* vspace = nullptr;
    std::uint64_t end = base; // morecore's mark: [base, end) is reserved
    Block* free_list = nullptr;
    Stats stats;
    // Threads: one lock for the free list, one for the RAM and slots behind the pages (the fault handler
    // takes only the second, so a thread that faults inside malloc does not wait for itself).
    thread::Mutex list_lock;
    thread::Mutex backing_lock;
    std::uint64_t backed_chunks[max_bytes / (16 * 4096) / 64] = {};
};

constinit State* state = nullptr;
alignas(16) unsigned char state_storage[sizeof(State)];
alignas(user::CapVSpace) unsigned char vspace_storage[sizeof(user::CapVSpace)];
alignas(16) unsigned char fault_stack[16 * 1024];

[[noreturn]] void give_up(const char* why, std::uint64_t far, std::uint64_t elr) {
    sys::print("heap: page fault at {:x} (ELR {:x}): {}\n", far, elr, why);
    sys::fault_give_up();
}

[[noreturn]] void on_fault(std::uint64_t far, std::uint64_t, std::uint64_t elr) {
    if (far < page)
        give_up("null pointer", far, elr);
    if (far >= base - page && far < base)
        give_up("the guard page below the heap", far, elr);
    if (far < base || far >= state->end)
        give_up("outside any reservation", far, elr);
    // A chunk at a time: one frame and one mapping capability per chunk keep the slots lasting. morecore
    // reserves whole chunks, so a chunk never runs past the reservation (or across an L3 table).
    std::uint64_t at = far & ~(backing_chunk - 1);
    {
        thread::LockGuard guard(state->backing_lock);
        // Another thread may have backed this chunk while this one waited.
        std::uint64_t chunk = (at - base) / backing_chunk;
        bool backed = (state->backed_chunks[chunk / 64] >> (chunk % 64)) & 1;
        if (!backed) {
            Result<user::SlotAllocator::Slot> frame =
                state->ram.retype(state->slots, abi::ObjType::frame, backing_chunk);
            if (!frame || !state->vspace->map(at, frame->addr(), backing_chunk,
                                              abi::right_read | abi::right_write, nullptr)) {
                state->backing_lock.unlock();
                give_up("no memory left to back the heap", far, elr);
            }
            state->backed_chunks[chunk / 64] |= std::uint64_t{1} << (chunk % 64);
            state->stats.backed += backing_chunk;
            ++state->stats.faults;
        }
    }
    sys::fault_resume();
}

// More heap: reserved only; the pages are backed when touched.
Block* morecore(std::size_t bytes) {
    std::uint64_t size = (bytes + backing_chunk - 1) & ~(backing_chunk - 1);
    if (size > base + max_bytes - state->end)
        return nullptr;
    auto* b = reinterpret_cast<Block*>(state->end);
    state->end += size;
    state->stats.reserved += size;
    b->size = size;
    return b;
}

// Puts a block back in address order, merging with its neighbours.
void release(Block* b) {
    Block** link = &state->free_list;
    while (*link != nullptr && *link < b)
        link = &(*link)->next;
    b->next = *link;
    *link = b;
    if (b->next != nullptr &&
        reinterpret_cast<unsigned char*>(b) + b->size == reinterpret_cast<unsigned char*>(b->next)) {
        b->size += b->next->size;
        b->next = b->next->next;
    }
    if (link != &state->free_list) {
        auto* prev = reinterpret_cast<Block*>(reinterpret_cast<unsigned char*>(link) - offsetof(Block, next));
        if (reinterpret_cast<unsigned char*>(prev) + prev->size == reinterpret_cast<unsigned char*>(b)) {
            prev->size += b->size;
            prev->next = b->next;
        }
    }
}

} // namespace

Result<void> init() {
    if (state != nullptr && state->ready)
        return ok();
    Result<sys::CapIdentity> ram = sys::cap_identify(abi::caddr(abi::root_slot_task, abi::task_slot_ram));
    Result<sys::CapIdentity> l0 =
        sys::cap_identify(abi::caddr(abi::root_slot_task, abi::task_slot_root_vnode));
    if (!ram || ram->type != abi::ObjType::ram || !l0 || l0->type != abi::ObjType::vnode_l0)
        return error(Errc::not_found);
    state = ::new (state_storage) State();
    state->ram = user::RamSource(abi::caddr(abi::root_slot_task, abi::task_slot_ram), 0, ram->size);
    state->vspace = ::new (vspace_storage)
        user::CapVSpace(abi::caddr(abi::root_slot_task, abi::task_slot_root_vnode), state->slots, state->ram);
    AOS_TRY(sys::set_fault_handler(&on_fault, fault_stack + sizeof(fault_stack)));
    state->ready = true;
    return ok();
}

Result<abi::CapAddr> retype(abi::ObjType type, std::uint64_t bytes) {
    AOS_TRY(init());
    thread::LockGuard guard(state->backing_lock);
    user::SlotAllocator::Slot s = AOS_TRY(state->ram.retype(state->slots, type, bytes));
    return s.addr();
}

Result<void> install_fault_handler(void* stack_top) {
    AOS_TRY(init());
    return sys::set_fault_handler(&on_fault, stack_top);
}

Stats stats() {
    return state != nullptr ? state->stats : Stats{};
}

} // namespace aos::heap

extern "C" void* malloc(std::size_t size) noexcept {
    using aos::heap::Block;
    if (!aos::heap::init() || size == 0 || size > aos::heap::max_bytes)
        return nullptr;
    aos::thread::LockGuard guard(aos::heap::state->list_lock);
    std::size_t need = (size + sizeof(Block) + 15) & ~std::size_t{15};
    for (int attempt = 0; attempt < 2; ++attempt) {
        for (Block** link = &aos::heap::state->free_list; *link != nullptr; link = &(*link)->next) {
            Block* b = *link;
            if (b->size < need)
                continue;
            if (b->size - need >= 2 * sizeof(Block)) { // split: the tail stays free
                auto* rest = reinterpret_cast<Block*>(reinterpret_cast<unsigned char*>(b) + need);
                rest->size = b->size - need;
                rest->next = b->next;
                *link = rest;
                b->size = need;
            } else {
                *link = b->next;
            }
            return reinterpret_cast<unsigned char*>(b) + sizeof(Block);
        }
        Block* more = aos::heap::morecore(need < 64 * 1024 ? 64 * 1024 : need);
        if (more == nullptr)
            return nullptr;
        aos::heap::release(more);
    }
    return nullptr;
}

extern "C" void free(void* p) noexcept {
    if (p == nullptr)
        return;
    aos::thread::LockGuard guard(aos::heap::state->list_lock);
    aos::heap::release(
        reinterpret_cast<aos::heap::Block*>(static_cast<unsigned char*>(p) - sizeof(aos::heap::Block)));
}

void* operator new(std::size_t size) {
    void* p = malloc(size);
    if (p == nullptr)
        aos_hook_panic("operator new: out of memory", __FILE__, __LINE__);
    return p;
}

void* operator new[](std::size_t size) {
    return operator new(size);
}

void operator delete(void* p) noexcept {
    free(p);
}

void operator delete[](void* p) noexcept {
    free(p);
}

void operator delete(void* p, std::size_t) noexcept {
    free(p);
}

void operator delete[](void* p, std::size_t) noexcept {
    free(p);
}
