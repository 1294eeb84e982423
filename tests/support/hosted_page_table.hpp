// An aos::vm::PageTable over heap storage (4 KiB granule, software tables, counted TLB), as the unit tests
// and the benchmark both build it. The caller runs pt.init() and decides how to fail.
#pragma once

#include <aos/vm/page_table.hpp>

#include <cstddef>
#include <memory>
#include <span>

namespace aos::testing {

struct HostedPageTable {
    using Arch = arch::aarch64::Granule4k;
    using Backend = vm::SpanTableBackend<Arch, vm::CountingTlb>;
    using Node = vm::TableNode<Backend::Handle>;
    using Pool = vm::NodePool<Node>;
    using Pt = vm::PageTable<Arch, Backend, Pool>;

    // With `records`, the backend finds a table's record in O(1); without, the tree searches by address.
    explicit HostedPageTable(std::size_t frames, bool records = true)
        : frame_store(new Backend::Frame[frames]), record_store(new void*[frames]),
          slot_store(new Pool::Slot[frames]),
          backend({frame_store.get(), frames}, 0, tlb,
                  records ? std::span<void*>(record_store.get(), frames) : std::span<void*>{}),
          pool({slot_store.get(), frames}), pt(backend, pool),
          record_bytes(records ? frames * sizeof(void*) : 0) {}

    // The tree's records plus the backend's record array (one pointer per frame of the pool).
    std::size_t metadata_bytes() const { return pt.metadata_bytes() + record_bytes; }

    std::unique_ptr<Backend::Frame[]> frame_store;
    std::unique_ptr<void*[]> record_store;
    std::unique_ptr<Pool::Slot[]> slot_store;
    vm::CountingTlb tlb;
    Backend backend;
    Pool pool;
    Pt pt;
    std::size_t record_bytes;
};

} // namespace aos::testing
