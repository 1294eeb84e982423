// aos::mm::Slab: fixed-size objects with O(1) allocate and deallocate, grown in chunks from a refill
// policy. It refills early, while a reserve of objects is left, so a refill that itself needs objects (a
// region allocator whose nodes come from this slab) is served from the reserve instead of recursing.
//
//   aos::mm::ArenaRefill boot{boot_buffer};                       // or a policy that allocates frames
//   aos::mm::Slab<Node, aos::mm::ArenaRefill> slab(boot, {.chunk_bytes = 16384, .low_water = 8});
//   Node* n = AOS_TRY(slab.allocate());                           // default-constructed
//   slab.deallocate(n);
#pragma once

#include <aos/core/hooks.hpp>
#include <aos/core/lock.hpp>
#include <aos/core/result.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>

namespace aos::mm {

// Where a slab's backing memory comes from: at least `bytes` bytes per call (more is used, less is an
// error), never given back. The kernel plugs in an ArenaRefill over a static boot buffer; init plugs in a
// policy that allocates and maps frames from its RegionAllocator (which may itself allocate from this slab:
// the early refill makes that safe); hosted tests plug in arenas over host memory.
template <class R>
concept RefillPolicy = requires(R& r, std::size_t bytes) {
    { r.refill(bytes) } -> std::same_as<Result<std::span<std::byte>>>;
};

// Where a container's metadata nodes come from: one default-constructed Node per call, or no_memory; a
// node goes back with deallocate. The kernel plugs in an aos::mm::Slab over a static arena, init a Slab
// refilled from the region allocator it feeds, hosted tests a counting heap allocator.
template <class A, class Node>
concept NodeAllocator = requires(A& a, Node* n) {
    { a.allocate() } -> std::same_as<Result<Node*>>;
    { a.deallocate(n) } -> std::same_as<void>;
};

// Up to N nodes taken from a NodeAllocator before a container locks and commits: taking one may refill a
// slab, and that refill may call back into the very container the nodes are for. What the commit does not
// use goes back with give_back.
//
// A batch may also be shared by nested users (a paging state's tables, taken before each page-table
// operation, where taking one may refill a slab whose refill maps memory through the same tables):
// take_more puts its nodes on top and returns a mark, and give_back_to(mark) returns only those. A nested
// user takes and gives back above the mark before the outer take_more goes on, so the stack stays in order.
template <class Node, std::size_t N>
struct NodeBatch {
    Node* nodes[N] = {};
    std::size_t count = 0;

    // In a change run by mm::with_nodes: whether the batch holds fewer than `need` nodes; if so it sets
    // `more`, and with_nodes takes them and runs the change again.
    bool short_of(std::size_t need, std::size_t& more) const {
        if (need <= count)
            return false;
        more = need;
        return true;
    }

    template <class A>
    Result<void> take(A& alloc, std::size_t want = N) {
        AOS_ASSERT(want <= N);
        if (want <= count)
            return ok();
        if (Result<std::size_t> r = take_more(alloc, want - count); !r) {
            give_back(alloc);
            return error(r.error());
        }
        return ok();
    }
    // `more` nodes on top of those held; the mark to give back to. no_memory past N.
    template <class A>
    Result<std::size_t> take_more(A& alloc, std::size_t more) {
        std::size_t mark = count;
        if (more > N - mark)
            return error(Errc::no_memory);
        while (count < mark + more) {
            Result<Node*> r = alloc.allocate(); // may nest: count is back where it was when this returns
            if (!r) {
                give_back_to(alloc, mark);
                return error(r.error());
            }
            nodes[count++] = *r;
        }
        return mark;
    }
    Node* pop() {
        AOS_ASSERT(count > 0);
        return nodes[--count];
    }
    template <class A>
    void give_back_to(A& alloc, std::size_t mark) {
        while (count > mark)
            alloc.deallocate(nodes[--count]);
    }
    template <class A>
    void give_back(A& alloc) {
        give_back_to(alloc, 0);
    }
};

// A container's change that may need metadata nodes: `first` nodes are taken outside `lock` (taking one may
// refill a slab, and the refill may call back into this very container), then change(batch, more) runs
// under the lock. It either commits, using nodes from the batch, or sets `more` to how many it needs in
// all and changes nothing; then they are taken and it runs again (the container may have changed
// meanwhile). The nodes it did not use go back. Returns its result, or the allocator's error.
template <class Node, std::size_t N, class A, core::Lock L, class F>
Result<void> with_nodes(A& alloc, L& lock, std::size_t first, F&& change) {
    NodeBatch<Node, N> batch;
    Result<void> result = batch.take(alloc, first);
    while (result) {
        std::size_t more = 0;
        {
            core::LockGuard guard(lock);
            result = change(batch, more);
        }
        if (!result || more == 0)
            break;
        result = batch.take(alloc, more);
    }
    batch.give_back(alloc);
    return result;
}

struct SlabConfig {
    std::size_t chunk_bytes = 16384; // what one refill asks for
    std::size_t low_water = 8;       // refill as soon as no more than this many objects are free

    // A chunk must hold its header and more objects than the reserve, or refills could never catch up.
    template <std::size_t ObjectSize>
    constexpr bool valid() const {
        return chunk_bytes / ObjectSize > low_water + 2;
    }
};

struct SlabStats {
    std::size_t capacity = 0; // objects carved from all chunks
    std::size_t free = 0;
    std::size_t in_use = 0;
    std::size_t chunks = 0;
    std::size_t refills = 0;        // successful
    std::size_t failed_refills = 0; // the policy returned an error (the slab went on from its reserve)
    bool operator==(const SlabStats&) const = default;
};

template <class T, RefillPolicy Refill, core::Lock L = core::NullLock>
class Slab {
    union Slot {
        Slot* next;
        alignas(T) unsigned char storage[sizeof(T)];
    };
    // Chunks start with this header, so check_invariants can tell a slab object from a stray pointer.
    struct Chunk {
        Chunk* next;
        Slot* slots;
        std::size_t count;
    };

public:
    static constexpr std::size_t object_size = sizeof(Slot);
    static constexpr std::size_t object_align = alignof(Slot);

    Slab(Refill& refill, SlabConfig config) : refill_(refill), config_(config) {
        // A bad configuration is a constant in the embedder's code, not a runtime input.
        AOS_ASSERT(config.valid<object_size>());
    }
    Slab(const Slab&) = delete;
    Slab& operator=(const Slab&) = delete;

    // Adds backing memory directly (a static buffer at boot, before any refill source exists). Errors:
    // invalid_argument when it cannot hold a header and one object after alignment.
    Result<void> grow(std::span<std::byte> memory) {
        core::LockGuard guard(lock_);
        return carve(memory);
    }

    // A default-constructed object, or no_memory (or the refill policy's error) when none is left.
    Result<T*> allocate() {
        bool refill_now = false;
        {
            core::LockGuard guard(lock_);
            if (!refilling_ && free_count_ <= config_.low_water) {
                refilling_ = true; // only this caller refills; others, and re-entries, use the reserve
                refill_now = true;
            }
        }
        Errc refill_error = Errc::no_memory;
        if (refill_now) {
            // Outside the lock: the policy may allocate from this slab again.
            Result<std::span<std::byte>> chunk = refill_.refill(config_.chunk_bytes);
            core::LockGuard guard(lock_);
            refilling_ = false;
            if (chunk && chunk->size() >= config_.chunk_bytes && carve(*chunk)) {
                ++refills_;
            } else {
                ++failed_refills_;
                refill_error = chunk ? Errc::invalid_argument : chunk.error();
            }
        }
        Slot* slot = nullptr;
        {
            core::LockGuard guard(lock_);
            if (free_ == nullptr)
                return error(refill_error);
            slot = free_;
            free_ = slot->next;
            --free_count_;
            ++in_use_;
        }
        return ::new (static_cast<void*>(slot->storage)) T();
    }

    // Destroys an object this slab allocated and makes its slot free again.
    void deallocate(T* object) {
        AOS_ASSERT(object != nullptr);
        object->~T();
        Slot* slot = ::new (static_cast<void*>(object)) Slot;
        core::LockGuard guard(lock_);
        AOS_ASSERT(in_use_ > 0);
        slot->next = free_;
        free_ = slot;
        ++free_count_;
        --in_use_;
    }

    SlabStats stats() const {
        core::LockGuard guard(lock_);
        return SlabStats{capacity_, free_count_, in_use_, chunks_, refills_, failed_refills_};
    }

    // Counts: free list length, capacity = free + in use; every free slot lies on a slot boundary of a
    // chunk. O(free objects x chunks): for tests and debug builds.
    [[nodiscard]] bool check_invariants() const {
        core::LockGuard guard(lock_);
        std::size_t capacity = 0;
        std::size_t chunks = 0;
        for (const Chunk* c = chunks_list_; c != nullptr; c = c->next) {
            capacity += c->count;
            if (++chunks > chunks_)
                return false;
        }
        if (chunks != chunks_ || capacity != capacity_ || capacity_ != free_count_ + in_use_)
            return false;
        std::size_t n = 0;
        for (const Slot* s = free_; s != nullptr; s = s->next) {
            if (++n > free_count_ || !owns(s))
                return false;
        }
        return n == free_count_;
    }

private:
    bool owns(const Slot* s) const {
        for (const Chunk* c = chunks_list_; c != nullptr; c = c->next) {
            if (s >= c->slots && s < c->slots + c->count)
                return true;
        }
        return false;
    }

    static std::uintptr_t align_up(std::uintptr_t x, std::size_t a) {
        return (x + a - 1) & ~(std::uintptr_t{a} - 1);
    }

    Result<void> carve(std::span<std::byte> memory) {
        auto begin = reinterpret_cast<std::uintptr_t>(memory.data());
        auto end = begin + memory.size();
        std::uintptr_t header = align_up(begin, alignof(Chunk));
        std::uintptr_t first = align_up(header + sizeof(Chunk), object_align);
        if (memory.data() == nullptr || first >= end || (end - first) / object_size == 0)
            return error(Errc::invalid_argument);
        std::size_t count = (end - first) / object_size;
        Slot* slots = reinterpret_cast<Slot*>(first);
        // Thread the new slots onto the free list, lowest address first.
        for (std::size_t i = count; i-- > 0;) {
            Slot* s = ::new (static_cast<void*>(slots + i)) Slot;
            s->next = free_;
            free_ = s;
        }
        chunks_list_ = ::new (reinterpret_cast<void*>(header)) Chunk{chunks_list_, slots, count};
        ++chunks_;
        capacity_ += count;
        free_count_ += count;
        return ok();
    }

    Refill& refill_;
    SlabConfig config_;
    mutable L lock_;
    Slot* free_ = nullptr;
    Chunk* chunks_list_ = nullptr;
    std::size_t free_count_ = 0;
    std::size_t in_use_ = 0;
    std::size_t capacity_ = 0;
    std::size_t chunks_ = 0;
    std::size_t refills_ = 0;
    std::size_t failed_refills_ = 0;
    bool refilling_ = false;
};

// A refill policy over one fixed buffer (a kernel's static boot arena): hands out consecutive chunks
// until the buffer is used up, then no_memory.
class ArenaRefill {
public:
    explicit ArenaRefill(std::span<std::byte> arena) : arena_(arena) {}

    Result<std::span<std::byte>> refill(std::size_t bytes) {
        if (bytes == 0)
            return error(Errc::zero_size);
        if (bytes > arena_.size() - used_)
            return error(Errc::no_memory);
        std::span<std::byte> chunk = arena_.subspan(used_, bytes);
        used_ += bytes;
        return chunk;
    }
    std::size_t used() const { return used_; }

private:
    std::span<std::byte> arena_;
    std::size_t used_ = 0;
};

static_assert(RefillPolicy<ArenaRefill>);
static_assert(NodeAllocator<Slab<SlabConfig, ArenaRefill>, SlabConfig>);

} // namespace aos::mm
