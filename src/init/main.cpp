// init: the first program the kernel starts. It takes over all RAM (the memory server), spawns the programs
// named by `spawn=` on the kernel command line (`spawn=hello,args+one+two`: commas separate programs, `+`
// the words of one command line), serves their RPC calls over LMP (they may spawn more), and when a child
// ends takes back everything it was given. When none is left it checks that memory is back where it was.
#include "memory.hpp"
#include "print.hpp"
#include "processes.hpp"

#include <aos/boot/cmdline.hpp>

#include <new>

namespace {

using namespace aos::abi;

constexpr std::uint64_t kib = 1024;
constexpr std::size_t command_max = 256;

// Everything init keeps, in one place: too large for the stack, and never destroyed.
struct Init {
    explicit Init(const BootInfo& bi)
        : slots(root_slot_slot_alloc0),
          boot_ram(caddr(root_slot_super, 0), 0, aos::init::MemoryServer::boot_ram_bytes),
          self(caddr(root_slot_task, task_slot_root_vnode), slots, boot_ram),
          paging(caddr(root_slot_task, task_slot_root_vnode), slots, boot_ram),
          mm(bi, slots, paging, boot_ram), processes(bi, slots, boot_ram, self, mm) {}

    aos::user::SlotAllocator slots;
    aos::user::RamSource boot_ram;
    // The spawner's fixed scratch window (L0 entry 1) is mapped directly; everything else init maps for
    // itself goes through its paging state (L0 entries 4 to 255).
    aos::user::CapVSpace self;
    aos::user::PagingState paging;
    aos::init::MemoryServer mm;
    aos::init::ProcessManager processes;
};
alignas(Init) unsigned char init_storage[sizeof(Init)];

// Spawns each entry of `spawn=`; `+` separates the words of one command line.
void spawn_from_command_line(aos::init::ProcessManager& pm, const BootInfo& bi) {
    aos::boot::CommandLine cmdline(bi.cmdline);
    aos::Result<aos::boot::StringRef> list = cmdline.value("spawn");
    if (!list)
        return;
    aos::boot::for_each_item(*list, ',', [&](aos::boot::StringRef item) {
        char cmd[command_max];
        std::size_t n = 0;
        for (; n < item.size && n + 1 < command_max; ++n)
            cmd[n] = item.data[n] == '+' ? ' ' : item.data[n];
        cmd[n] = '\0';
        if (aos::Result<aos::proc::Pid> r = pm.spawn(aos::core::StringRef{cmd, n}, bi.core_id); !r)
            aos::sys::print("init: cannot spawn {}: {}\n", static_cast<const char*>(cmd), r.error());
        return true;
    });
}

} // namespace

int main() {
    const BootInfo* bi = aos::sys::require_bootinfo("init");
    if (bi == nullptr)
        return 2;
    Init& init = *::new (init_storage) Init(*bi);
    if (aos::Result<void> r = init.paging.init(); !r) {
        aos::sys::print("init: no paging state: {}\n", r.error());
        return 1;
    }
    if (aos::Result<void> r = init.mm.init(); !r) {
        aos::sys::print("init: cannot take over memory: {}\n", r.error());
        return 1;
    }
    if (aos::Result<void> r = init.processes.start(); !r) {
        aos::sys::print("init: no endpoint: {}\n", r.error());
        return 1;
    }
    std::uint64_t free_at_start = init.mm.stats().free;
    std::size_t refills_at_start = init.mm.slab_stats().refills;
    aos::sys::print("init: {} MiB of RAM under management\n", free_at_start / (1024 * kib));

    spawn_from_command_line(init.processes, *bi);
    // Requests and ends of children all arrive on init's endpoint: wait for the next until none is left.
    while (init.processes.live() > 0)
        init.processes.serve_one();
    // Everything the children had is back; the only memory init may have kept is what its own metadata slab
    // grew by (it keeps its chunks), and that is counted.
    std::uint64_t free_at_end = init.mm.stats().free;
    std::uint64_t slab_growth =
        (init.mm.slab_stats().refills - refills_at_start) * aos::init::MemoryServer::slab_chunk;
    bool back = free_at_end + slab_growth == free_at_start;
    aos::sys::print("init: every child has ended; {} KiB free, {} ({} KiB to init's metadata)\n",
                    free_at_end / kib, back ? "as at the start" : "NOT as at the start", slab_growth / kib);
    return back ? 0 : 1;
}
