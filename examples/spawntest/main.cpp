// A test init for spawning through capabilities: builds processes from boot modules entirely in user space
// (src/init/spawn.cpp), refuses an unknown module, and stops one child through its dispatcher capability.
// With `run=spawntest` the kernel starts only this program; everything else it prints comes from children.
#include "print.hpp"
#include "spawn.hpp"

namespace {

using namespace aos::abi;

constexpr std::uint64_t us_per_ms = 1000;
// RAM each child gets for its heap.
constexpr std::uint64_t heap_bytes = 4 * 1024 * 1024;

} // namespace

int main() {
    const BootInfo* bi = aos::sys::require_bootinfo("spawntest");
    if (bi == nullptr)
        return 2;
    aos::user::SlotAllocator slots(root_slot_slot_alloc0);
    aos::user::RamSource ram(caddr(root_slot_super, 0), 0, bi->free_ram[0].size);
    aos::user::CapVSpace self(caddr(root_slot_task, task_slot_root_vnode), slots, ram);
    aos::init::Spawner spawner(*bi, slots, ram, self, aos::init::scratch_window, heap_bytes);

    bool ok = true;
    for (const char* name :
         {"hello", "spin_a", "spin_b", "args one  two three", "heaptest 12345", "heaptest crash", "ticker"}) {
        aos::Result<aos::init::Child> c = spawner.spawn(name);
        if (!c) {
            aos::sys::print("spawntest: cannot spawn {}: {}\n", name, c.error());
            ok = false;
            continue;
        }
        aos::sys::print("spawntest: spawned {} as dispatcher {}\n", name, c->id);
        if (aos::core::StringRef::from_c_str(name).equals("ticker")) {
            ok = aos::sys::sleep_us(100 * us_per_ms) && ok;
            aos::sys::print("spawntest: stopping ticker\n");
            ok = aos::sys::dispatcher_stop(c->dispatcher.addr()) && ok;
        }
    }
    aos::Result<aos::init::Child> missing = spawner.spawn("nosuch");
    aos::sys::print("spawntest: spawn nosuch: {}\n", missing ? "accepted" : aos::to_string(missing.error()));
    ok = ok && !missing && missing.error() == aos::Errc::not_found;
    aos::sys::print("spawntest: {} slots, {} KiB of RAM used\n", slots.used(), ram.used() / 1024);
    return ok ? 0 : 1;
}
