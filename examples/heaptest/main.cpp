// Exercises the process heap: random malloc/free with patterns checked (seed from argv[1], printed), C++
// new/delete, and the lazily backed pages behind them. `heaptest crash` then dereferences null: the heap's
// fault handler reports it and the kernel stops the process.
#include "heap.hpp"
#include "paging.hpp"
#include "print.hpp"
#include "random.hpp"

#include <aos/core/string_ref.hpp>

namespace {

constexpr unsigned slots = 256;
constexpr std::size_t page = aos::abi::object_granule;
constexpr std::size_t chunk = aos::user::PagingState::lazy_chunk; // what the heap backs and gives back
constexpr unsigned rounds = 4000;

struct Node {
    std::uint64_t value;
    Node* next;
};

} // namespace

int main(int argc, char** argv) {
    if (argc > 1 && aos::core::StringRef::from_c_str(argv[1]).equals("crash")) {
        aos::sys::print("heaptest: dereferencing null\n");
        return *reinterpret_cast<volatile int*>(std::uintptr_t{0});
    }
    aos::user::Rng rng{aos::user::seed_from(argc > 1 ? argv[1] : nullptr)};
    aos::sys::print("heaptest: seed {}\n", rng.s);
    unsigned char* block[slots] = {};
    std::size_t size[slots] = {};
    bool intact = true;
    unsigned allocations = 0;
    for (unsigned r = 0; r < rounds; ++r) {
        unsigned i = static_cast<unsigned>(rng.next() % slots);
        if (block[i] != nullptr) {
            for (std::size_t k = 0; k < size[i]; k += 61)
                intact = intact && block[i][k] == static_cast<unsigned char>(i + k);
            free(block[i]);
            block[i] = nullptr;
            continue;
        }
        size[i] = 1 + rng.next() % (rng.next() % 8 == 0 ? 65536 : 512);
        block[i] = static_cast<unsigned char*>(malloc(size[i]));
        if (block[i] == nullptr) {
            aos::sys::print("heaptest: malloc({}) failed\n", size[i]);
            return 1;
        }
        ++allocations;
        for (std::size_t k = 0; k < size[i]; k += 61)
            block[i][k] = static_cast<unsigned char>(i + k);
    }
    for (unsigned i = 0; i < slots; ++i)
        free(block[i]);
    // A list built with new and taken apart with delete.
    Node* head = nullptr;
    for (std::uint64_t v = 0; v < 1000; ++v)
        head = new Node{v, head};
    std::uint64_t sum = 0;
    while (head != nullptr) {
        Node* n = head->next;
        sum += head->value;
        delete head;
        head = n;
    }
    aos::heap::Stats st = aos::heap::stats();
    aos::sys::print("heaptest: {} allocations, patterns {}, list sum {}\n", allocations,
                    intact ? "intact" : "CORRUPTED", sum);
    aos::sys::print("heaptest: {} KiB reserved, {} KiB backed in {} page faults\n", st.reserved / 1024,
                    st.backed / 1024, st.faults);

    // A large block touched whole, then freed: its whole chunks go back; allocated again, it reads zero.
    constexpr std::size_t big_bytes = 1 << 20;
    auto* big = static_cast<volatile unsigned char*>(malloc(big_bytes));
    if (big == nullptr)
        return 1;
    for (std::size_t k = 0; k < big_bytes; k += page)
        big[k] = 0xa5;
    aos::heap::Stats full = aos::heap::stats();
    free(const_cast<unsigned char*>(big));
    aos::heap::Stats freed = aos::heap::stats();
    // At most the chunk holding the block's header and a part chunk at its end stay backed.
    bool given_back = freed.given_back - full.given_back >= big_bytes - 2 * chunk &&
                      full.backed - freed.backed == freed.given_back - full.given_back;
    aos::sys::print("heaptest: a {} KiB block touched and freed: {} KiB given back, {} KiB backed before, {} "
                    "after\n",
                    big_bytes / 1024, (freed.given_back - full.given_back) / 1024, full.backed / 1024,
                    freed.backed / 1024);
    auto* again = static_cast<volatile unsigned char*>(malloc(big_bytes));
    // First fit over an address-ordered list hands the same block back.
    bool fresh = again == big && again[big_bytes / 2 & ~(page - 1)] == 0;
    free(const_cast<unsigned char*>(again));
    aos::sys::print("heaptest: memory given back {}, and fresh when allocated again: {}\n",
                    given_back ? "ok" : "FAILED", fresh ? "ok" : "FAILED");
    return intact && sum == 999 * 1000 / 2 && st.faults > 0 && st.backed <= st.reserved && given_back && fresh
               ? 0
               : 1;
}
