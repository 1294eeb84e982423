// Instantiates aos::vm::PageTable for AArch64 the way the kernel does: tables from a static frame pool,
// records from a NodePool, TLB maintenance as a policy (here the counting one; the kernel's issues TLBI).
#include <aos/vm/page_table.hpp>

#include <cstdint>

namespace {

namespace a64 = aos::arch::aarch64;
using Backend = aos::vm::SpanTableBackend<a64::Granule4k, aos::vm::CountingTlb>;
using Node = aos::vm::TableNode<Backend::Handle>;
using Pool = aos::vm::NodePool<Node>;

constexpr unsigned frames = 8;
Backend::Frame frame_store[frames];
Pool::Slot slot_store[frames];

} // namespace

// Exported so the instantiations are kept and linked.
extern "C" bool aos_freestanding_vm(std::uint64_t va, std::uint64_t pa, std::uint64_t size) {
    aos::vm::CountingTlb tlb;
    Backend backend({frame_store, frames}, 0, tlb);
    Pool pool({slot_store, frames});
    aos::vm::PageTable<a64::Granule4k, Backend, Pool> pt(backend, pool);
    if (!pt.init() || !pt.map(va, pa, size, {.kernel = a64::prot_rw}))
        return false;
    if (!pt.protect(va, size, {.kernel = a64::prot_read}) || !pt.translate(va))
        return false;
    return pt.unmap(va, size).has_value() && pt.check_invariants();
}
