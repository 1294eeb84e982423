// init: the first program the kernel starts. It takes over all RAM (the memory server), spawns the programs
// named by `spawn=` on the kernel command line (`spawn=hello,args+one+two`: commas separate programs, `+`
// the words of one command line), serves their RPC calls over LMP, and when a child ends takes back
// everything it was given.
#include "memory.hpp"
#include "print.hpp"
#include "rpc.hpp"
#include "spawn.hpp"

#include <aos/boot/cmdline.hpp>

#include <new>

namespace {

using namespace aos::abi;

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t boot_ram_bytes = 4 * 1024 * kib;
// init's own address space above what the kernel mapped: the scratch window, then the slab's heap.
constexpr std::uint64_t scratch_va = std::uint64_t{1} << 39;
constexpr std::uint64_t heap_va = std::uint64_t{3} << 39;
// What one child gets: a pool its objects are retyped from (revoked when it ends), within it its heap.
constexpr std::uint64_t child_pool_bytes = 8 * 1024 * kib;
constexpr std::uint64_t child_heap_bytes = 4 * 1024 * kib;
constexpr std::size_t max_children = 16;
constexpr std::size_t command_max = 256;
// Root slots init hands to its children's CNodes (the kernel fills 0-8).
constexpr std::uint32_t first_child_root_slot = 16;

struct Child {
    bool live = false;
    aos::init::Channel* channel = nullptr;
    char name[module_name_max] = {};
    aos::init::RamGrant pool;
    std::uint32_t root_slot = 0;
    CapAddr dispatcher = 0;
    std::uint64_t id = 0;
};

Child children[max_children];
// The channels live here (constructed at spawn, destroyed when the child is reaped).
alignas(aos::init::Channel) unsigned char channel_storage[max_children][sizeof(aos::init::Channel)];

// Turns one `spawn=` entry into a command line: `+` separates its words.
void command_line(aos::boot::StringRef entry, char (&out)[command_max]) {
    std::size_t n = 0;
    for (; n < entry.size && n + 1 < command_max; ++n)
        out[n] = entry.data[n] == '+' ? ' ' : entry.data[n];
    out[n] = '\0';
}

class Init {
public:
    Init(const BootInfo& bi)
        : bi_(bi), slots_(root_slot_slot_alloc0), boot_ram_(caddr(root_slot_super, 0), 0, boot_ram_bytes),
          self_(caddr(root_slot_task, task_slot_root_vnode), slots_, boot_ram_),
          mm_(bi, slots_, self_, boot_ram_, heap_va) {}

    aos::Result<void> start() {
        AOS_TRY(mm_.init());
        endpoint_ = AOS_TRY(boot_ram_.retype(slots_, ObjType::endpoint, endpoint_bytes));
        return aos::ok();
    }
    aos::mm::RegionStats memory() const { return mm_.stats(); }

    // A child's objects all come from one pool grant, and its capabilities live in a CNode of its own in
    // one of init's root slots: revoking the pool takes everything back at once.
    aos::Result<void> spawn(std::size_t index, const char* cmd) {
        Child& c = children[index];
        c.root_slot = first_child_root_slot + static_cast<std::uint32_t>(index);
        c.pool = AOS_TRY(mm_.alloc(child_pool_bytes, object_granule));
        aos::user::RamSource pool(c.pool.cap.slot.addr(), 0, c.pool.size);
        aos::Result<aos::user::SlotAllocator::Slot> cnode =
            pool.retype(slots_, ObjType::l2_cnode, l2_cnode_bytes);
        aos::Result<void> placed = cnode ? aos::sys::cap_copy(cnode->addr(), cnode_root, c.root_slot)
                                         : aos::Result<void>(aos::error(cnode.error()));
        if (cnode) {
            (void)aos::sys::cap_delete(cnode->addr());
            slots_.free(*cnode);
        }
        aos::Result<aos::init::Child> child = aos::error(aos::Errc::no_memory);
        aos::Result<aos::user::SlotAllocator::Slot> own_endpoint = aos::error(aos::Errc::no_memory);
        if (placed) {
            // The child's channel: a send-only copy of init's endpoint badged with the child's number, and
            // an endpoint of its own that init answers on.
            aos::user::SlotAllocator child_slots(c.root_slot);
            own_endpoint = pool.retype(child_slots, ObjType::endpoint, endpoint_bytes);
            aos::Result<aos::user::SlotAllocator::Slot> to_init = child_slots.alloc();
            if (own_endpoint && to_init &&
                aos::sys::cap_mint(endpoint_->addr(), to_init->cnode, to_init->index,
                                   right_write | right_grant, index + 1)) {
                const CapAddr passed[] = {to_init->addr(), own_endpoint->addr()};
                aos::init::Spawner spawner(bi_, child_slots, pool, self_, scratch_va, child_heap_bytes);
                child = spawner.spawn(cmd, passed, 2);
            }
        }
        if (!child) {
            reclaim(c);
            return aos::error(child.error());
        }
        c.live = true;
        c.channel = ::new (channel_storage[index]) aos::init::Channel(c.name, own_endpoint->addr(), mm_);
        (void)c.channel->start();
        c.dispatcher = child->dispatcher.addr();
        c.id = child->id;
        std::size_t n = 0;
        for (; cmd[n] != '\0' && cmd[n] != ' ' && n + 1 < module_name_max; ++n)
            c.name[n] = cmd[n];
        c.name[n] = '\0';
        return aos::ok();
    }

    // Serves what the children sent, without waiting; true when there was something.
    bool serve() {
        bool any = false;
        for (;;) {
            aos::Result<aos::sys::LmpMessage> m = aos::sys::lmp_receive(endpoint_->addr(), false);
            if (!m)
                return any;
            any = true;
            std::uint64_t index = m->badge - 1;
            if (index >= max_children || !children[index].live)
                continue; // from a child already gone
            aos::ipc::Frame f{};
            for (std::size_t i = 0; i < lmp_words; ++i)
                f.words[i] = m->words[i];
            children[index].channel->transport.deliver(f);
            (void)children[index].channel->server.poll();
        }
    }

    // Looks at each live child; those that ended are reported and taken back. Returns how many live on.
    unsigned reap() {
        unsigned live = 0;
        for (Child& c : children) {
            if (!c.live)
                continue;
            aos::Result<aos::sys::CapIdentity> id = aos::sys::cap_identify(c.dispatcher);
            DispatcherStatus s = id ? dispatcher_status(id->status) : DispatcherStatus::stopped;
            if (s != DispatcherStatus::exited && s != DispatcherStatus::stopped) {
                ++live;
                continue;
            }
            if (s == DispatcherStatus::exited)
                aos::sys::print("init: {} (dispatcher {}) exited with status {}\n",
                                static_cast<const char*>(c.name), c.id, dispatcher_exit_status(id->status));
            else
                aos::sys::print("init: {} (dispatcher {}) was stopped\n", static_cast<const char*>(c.name),
                                c.id);
            reclaim(c);
        }
        return live;
    }

private:
    // The pool's revoke deletes every capability the child had (its copies of RAM grants too, which live
    // in its CNodes), so the grants can go back after it.
    void reclaim(Child& c) {
        if (c.pool.size != 0) {
            (void)aos::sys::cap_revoke(c.pool.cap.slot.addr());
            (void)mm_.free(c.pool);
        }
        if (c.channel != nullptr) {
            c.channel->return_grants();
            c.channel->~Channel();
        }
        c = Child{};
    }

    const BootInfo& bi_;
    aos::user::SlotAllocator slots_;
    aos::user::RamSource boot_ram_;
    aos::user::CapVSpace self_;
    aos::init::MemoryServer mm_;
    aos::Result<aos::user::SlotAllocator::Slot> endpoint_ = aos::error(aos::Errc::not_found);
};

} // namespace

int main() {
    const BootInfo* bi = aos::sys::bootinfo();
    if (bi == nullptr || bi->free_ram_count == 0) {
        aos::sys::print("init: no bootinfo: init must be the first program (run=init)\n");
        return 2;
    }
    // Too large for the stack, and never destroyed (a static would need atexit).
    alignas(Init) static unsigned char storage[sizeof(Init)];
    Init& init = *::new (storage) Init(*bi);
    if (aos::Result<void> r = init.start(); !r) {
        aos::sys::print("init: cannot take over memory: {}\n", r.error());
        return 1;
    }
    std::uint64_t free_at_start = init.memory().free;
    aos::sys::print("init: {} MiB of RAM under management\n", free_at_start / (1024 * kib));

    aos::boot::CommandLine cmdline(bi->cmdline);
    aos::Result<aos::boot::StringRef> list = cmdline.value("spawn");
    std::size_t index = 0;
    if (list) {
        std::size_t from = 0;
        for (std::size_t i = 0; i <= list->size; ++i) {
            if (i < list->size && list->data[i] != ',')
                continue;
            char cmd[command_max];
            command_line({list->data + from, i - from}, cmd);
            from = i + 1;
            if (index == max_children) {
                aos::sys::print("init: cannot spawn {}: more than {} children\n",
                                static_cast<const char*>(cmd), max_children);
                continue;
            }
            if (aos::Result<void> r = init.spawn(index, cmd); !r)
                aos::sys::print("init: cannot spawn {}: {}\n", static_cast<const char*>(cmd), r.error());
            else
                ++index;
        }
    }
    // Serve and reap until no child is left; with nothing to serve, let the children run.
    while (init.reap() > 0) {
        if (!init.serve())
            (void)aos::sys::yield();
    }
    std::uint64_t free_at_end = init.memory().free;
    aos::sys::print("init: every child has ended; {} KiB free, {}\n", free_at_end / kib,
                    free_at_end == free_at_start ? "as at the start" : "NOT as at the start");
    return free_at_end == free_at_start ? 0 : 1;
}
