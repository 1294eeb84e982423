// The process heap (heap.hpp): a first-fit free list with coalescing over a lazily backed region.
#include "heap.hpp"

#include "paging.hpp"
#include "print.hpp"
#include "sync.hpp"

#include <aos/core/hooks.hpp>

#include <new>

namespace aos::heap {

namespace {

constexpr std::size_t align = 16;
constexpr std::uint64_t chunk = user::PagingState::lazy_chunk;
// Free memory spanning at least this much in whole chunks goes back to the paging state; smaller pieces
// stay backed, so that a program that frees and allocates the same few buffers does not fault each time.
constexpr std::uint64_t give_back_min = 4 * chunk;

// One block: its size (header included) and, while free, the next free block (address order).
struct Block {
    std::size_t size;
    Block* next;
};
static_assert(sizeof(Block) == align);

struct State {
    State(std::uint64_t ram_bytes)
        : ram(abi::caddr(abi::root_slot_task, abi::task_slot_ram), 0, ram_bytes),
          paging(abi::caddr(abi::root_slot_task, abi::task_slot_root_vnode), slots, ram) {}

    bool ready = false;
    user::SlotAllocator slots{abi::root_slot_slot_alloc0, abi::l2_cnode_slots - user::rpc_reserved_slots};
    user::RamSource ram;
    // The paging state has its own lock; the fault handler takes only that one, so a thread that faults
    // inside malloc does not wait for itself.
    user::PagingState paging;
    std::uint64_t base = 0; // the heap's reservation: [base, base + max_bytes), a guard page below
    std::uint64_t end = 0;  // morecore's mark: [base, end) is handed to malloc
    Block* free_list = nullptr;
    std::uint64_t reserved = 0;
    std::uint64_t given_back = 0; // bytes free gave back to the paging state
    thread::Mutex list_lock;
};

constinit State* state = nullptr;
alignas(State) unsigned char state_storage[sizeof(State)];
alignas(16) unsigned char fault_stack[16 * 1024];

// More heap: reserved only; the pages are backed when touched.
Block* morecore(std::size_t bytes) {
    std::uint64_t size = (bytes + chunk - 1) & ~(chunk - 1);
    if (size > state->base + max_bytes - state->end)
        return nullptr;
    auto* b = reinterpret_cast<Block*>(state->end);
    state->end += size;
    state->reserved += size;
    b->size = size;
    return b;
}

// Puts a block back in address order, merging with its neighbours; returns the free block it is part of.
Block* release(Block* b) {
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
            return prev;
        }
    }
    return b;
}

// After [from, to) was freed into free block b: when b's whole chunks (past its header, which the free
// list still reads) span give_back_min, gives back those of them that [from, to) touches. Their frames
// and RAM go, a later touch backs fresh ones. The rest of b was looked at when it was freed, but a piece
// freed below the threshold stays backed even once a later free merges it into a larger block: a free
// block keeps less than 2 * give_back_min plus two chunks backed (two neighbours each just under the
// threshold when the block between them went).
void give_back(const Block* b, std::uint64_t from, std::uint64_t to) {
    auto start = reinterpret_cast<std::uint64_t>(b);
    std::uint64_t lo = (start + sizeof(Block) + chunk - 1) & ~(chunk - 1);
    std::uint64_t hi = (start + b->size) & ~(chunk - 1);
    if (hi <= lo || hi - lo < give_back_min)
        return;
    std::uint64_t from_chunk = from & ~(chunk - 1);
    std::uint64_t to_chunk = (to + chunk - 1) & ~(chunk - 1);
    lo = lo > from_chunk ? lo : from_chunk;
    hi = hi < to_chunk ? hi : to_chunk;
    if (hi <= lo)
        return;
    // Whole chunks of the heap's own reservation, where nothing else is mapped: only a metadata node the
    // paging state could not get (no_memory: the memory then stays backed) may refuse it.
    Result<std::uint64_t> r = state->paging.discard(lo, hi - lo);
    if (!r && r.error() != Errc::no_memory) {
        sys::print("heap: giving back [{:x}, {:x}) failed: {}\n", lo, hi, r.error());
        aos_hook_panic("the heap's reservation is broken", __FILE__, __LINE__);
    }
    if (r)
        state->given_back += *r;
}

} // namespace

void on_fault(std::uint64_t far, std::uint64_t esr, std::uint64_t elr) {
    if (Result<void, user::PagingFault> r = state->paging.handle_fault(far, esr); !r) {
        sys::print("heap: page fault at {:x} (ELR {:x}): {}\n", far, elr, user::to_string(r.error()));
        sys::fault_give_up();
    }
    sys::fault_resume();
}

Result<void> init() {
    if (state != nullptr && state->ready)
        return ok();
    Result<sys::CapIdentity> ram = sys::cap_identify(abi::caddr(abi::root_slot_task, abi::task_slot_ram));
    if (!ram || ram->type != abi::ObjType::ram)
        return error(Errc::not_found);
    state = ::new (state_storage) State(ram->size);
    Result<sys::CapIdentity> root = sys::cap_identify(abi::caddr(abi::root_slot_task, abi::task_slot_root));
    if (root)
        state->slots.grow_from(state->ram, abi::root_slot_first_free,
                               static_cast<std::uint32_t>(root->size / abi::cte_size));
    AOS_TRY(state->paging.init());
    state->base = AOS_TRY(state->paging.reserve_lazy(max_bytes, 1));
    state->end = state->base;
    AOS_TRY(sys::set_fault_handler(&on_fault, fault_stack + sizeof(fault_stack)));
    state->ready = true;
    return ok();
}

Result<abi::CapAddr> retype(abi::ObjType type, std::uint64_t bytes) {
    AOS_TRY(init());
    return state->paging.retype(type, bytes);
}

Result<void> install_fault_handler(void* stack_top) {
    AOS_TRY(init());
    return sys::set_fault_handler(&on_fault, stack_top);
}

Stats stats() {
    if (state == nullptr)
        return Stats{};
    user::PagingStats p = state->paging.stats();
    // Everything backed in the runtime's paging state is the heap's, unless the program mapped or reserved
    // memory through it too; the paging state's own metadata is not counted.
    return Stats{state->reserved, p.vaddr.backed_bytes, p.faults, state->base, state->given_back};
}

user::PagingState* paging() {
    return state != nullptr && state->ready ? &state->paging : nullptr;
}

} // namespace aos::heap

extern "C" void* malloc(std::size_t size) noexcept {
    using aos::heap::Block;
    if (!aos::heap::init() || size == 0 || size > aos::heap::max_bytes)
        return nullptr;
    aos::core::LockGuard guard(aos::heap::state->list_lock);
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
    aos::core::LockGuard guard(aos::heap::state->list_lock);
    auto* b = reinterpret_cast<aos::heap::Block*>(static_cast<unsigned char*>(p) - sizeof(aos::heap::Block));
    auto from = reinterpret_cast<std::uint64_t>(b);
    std::uint64_t to = from + b->size;
    aos::heap::give_back(aos::heap::release(b), from, to);
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
