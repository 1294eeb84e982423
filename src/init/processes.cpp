// init's process manager (processes.hpp).
#include "processes.hpp"

#include "lmp_transport.hpp"
#include "print.hpp"
#include "spawn.hpp"

#include <aos/boot/cmdline.hpp>

#include <new>

namespace aos::init {

namespace {

using namespace abi;

constexpr std::uint64_t kib = 1024;
// What one child gets: a pool its objects are retyped from (revoked when it ends), within it its heap.
constexpr std::uint64_t child_pool_bytes = 8 * 1024 * kib;
constexpr std::uint64_t child_heap_bytes = 4 * 1024 * kib;
constexpr std::size_t command_max = 256;
// Root slots init hands to its children's CNodes (the kernel fills 0-8).
constexpr std::uint32_t first_child_root_slot = 16;
// The badge of init's endpoint the kernel's console notices carry (children have 1 to max_children).
constexpr std::uint64_t console_badge = notify_badge_max;
constexpr CapAddr console_cap = caddr(root_slot_devices, device_slot_console);
// A request's badge: the child's slot + 1 in the low bits, the slot's generation above.
constexpr unsigned slot_badge_bits = 8;
constexpr std::uint64_t slot_badge_mask = (std::uint64_t{1} << slot_badge_bits) - 1;

} // namespace

char* NameBlocks::allocate(std::size_t n) {
    if (n > block)
        return nullptr;
    for (std::size_t i = 0; i < max_children * 2; ++i) {
        if (!used_[i]) {
            used_[i] = true;
            return blocks_[i];
        }
    }
    return nullptr;
}

void NameBlocks::release(char* p, std::size_t) {
    for (std::size_t i = 0; i < max_children * 2; ++i) {
        if (blocks_[i] == p)
            used_[i] = false;
    }
}

ProcessManager::ProcessManager(const BootInfo& bi, user::SlotAllocator& slots, user::RamSource& boot_ram,
                               user::CapVSpace& self, MemoryServer& mm)
    : bi_(bi), slots_(slots), boot_ram_(boot_ram), self_(self), mm_(mm),
      table_(std::span<proc::Process>(process_slots_), names_, static_cast<std::uint8_t>(bi.core_id)) {}

Result<void> ProcessManager::start() {
    endpoint_ = AOS_TRY(boot_ram_.retype(slots_, ObjType::endpoint, endpoint_bytes));
    landing_ = AOS_TRY(slots_.alloc());
    // One waitset over the one endpoint: the console's notices, children's end notices, their requests.
    waitset_ = user::Waitset(endpoint_.addr(), landing_);
    AOS_TRY(waitset_.add(console_badge, ~std::uint64_t{0}, user::Waitset::notices, &on_console, this));
    AOS_TRY(waitset_.add(0, 0, user::Waitset::notices, &on_notice, this));
    AOS_TRY(waitset_.add(0, 0, user::Waitset::messages, &on_request, this));
    for (std::span<std::byte>& b : request_buffers_)
        b = AOS_TRY(mm_.map_heap(Channel::request_bytes));
    // Console input arrives as a notice on the same endpoint, so init never waits on two things at once.
    user::SlotAllocator::Slot badged = AOS_TRY(slots_.alloc());
    AOS_TRY(sys::cap_mint(endpoint_.addr(), badged.cnode, badged.index, right_write, console_badge));
    AOS_TRY(sys::invoke_status(console_cap, CapOp::console_set_notify, badged.addr()));
    return ok();
}

// Takes whatever the console has into typed_.
void ProcessManager::console_input() {
    for (;;) {
        sys::InvokeResult r = sys::invoke(console_cap, CapOp::console_read);
        if (r.error != syscall_success || r.value[1] == 0)
            return;
        for (std::uint64_t i = 0; i < r.value[1] && typed_count_ < sizeof(typed_); ++i)
            typed_[(typed_head_ + typed_count_++) % sizeof(typed_)] =
                static_cast<char>(r.value[0] >> (8 * i));
    }
}

bool ProcessManager::next_char(char& c) {
    if (typed_count_ == 0)
        console_input();
    if (typed_count_ == 0)
        return false;
    c = typed_[typed_head_];
    typed_head_ = (typed_head_ + 1) % sizeof(typed_);
    --typed_count_;
    return true;
}

Result<std::optional<char>> ProcessManager::getchar(Channel& asker, ipc::ReplyToken<proto::Getchar> token) {
    char c = 0;
    if (getchar_count_ == 0 && next_char(c))
        return std::optional<char>{c};
    if (getchar_count_ == max_children)
        return error(Errc::busy);
    getchars_[getchar_count_++] = PendingGetchar{&asker, token};
    return std::optional<char>{};
}

void ProcessManager::forget_getchar(Channel& asker) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < getchar_count_; ++i) {
        if (getchars_[i].asker != &asker)
            getchars_[kept++] = getchars_[i];
    }
    getchar_count_ = kept;
}

ProcessManager::Child* ProcessManager::child_of(proc::Pid pid) {
    for (Child& c : children_) {
        if (c.live && c.pid == pid)
            return &c;
    }
    return nullptr;
}

Result<proc::Pid> ProcessManager::spawn(core::StringRef command_line, std::uint64_t core, CapAddr extra) {
    if (core != bi_.core_id)
        return error(Errc::unsupported);
    char cmd[command_max];
    if (command_line.size == 0 || command_line.size >= command_max)
        return error(Errc::invalid_argument);
    for (std::size_t i = 0; i < command_line.size; ++i)
        cmd[i] = command_line.data[i];
    cmd[command_line.size] = '\0';
    core::StringRef name = boot::CommandLine(cmd).first_word(); // as the spawner finds the module
    std::size_t index = 0;
    while (index < max_children && (children_[index].live || children_[index].pool.size != 0))
        ++index;
    if (index == max_children)
        return error(Errc::no_memory);
    AOS_TRY(place_child(index, cmd, name, extra));
    sys::print("init: spawned {} as pid {:x}\n", name, children_[index].pid);
    return children_[index].pid;
}

// A child's objects all come from one pool grant, and its capabilities live in a CNode of its own in one
// of init's root slots: revoking the pool takes everything back at once.
Result<void> ProcessManager::place_child(std::size_t index, const char* cmd, core::StringRef name,
                                         CapAddr extra) {
    Child& c = children_[index];
    c.root_slot = first_child_root_slot + static_cast<std::uint32_t>(index);
    c.pool = AOS_TRY(mm_.alloc(child_pool_bytes, object_granule));
    user::RamSource pool(c.pool.cap.slot.addr(), 0, c.pool.size);
    Result<user::SlotAllocator::Slot> cnode = pool.retype(slots_, ObjType::l2_cnode, l2_cnode_bytes);
    Result<void> placed =
        cnode ? sys::cap_copy(cnode->addr(), cnode_root, c.root_slot) : Result<void>(error(cnode.error()));
    if (cnode) {
        (void)sys::cap_delete(cnode->addr());
        slots_.free(*cnode);
    }
    Result<aos::init::Child> child = error(Errc::no_memory);
    Result<user::SlotAllocator::Slot> own_endpoint = error(Errc::no_memory);
    Result<proc::Pid> pid = table_.create(name);
    if (!pid && pid.error() == Errc::no_memory) {
        forget_exited();
        pid = table_.create(name);
    }
    if (placed && pid) {
        // The child's channel: a send-only copy of init's endpoint badged with the child's number, and an
        // endpoint of its own that init answers on.
        user::SlotAllocator child_slots(c.root_slot);
        own_endpoint = pool.retype(child_slots, ObjType::endpoint, endpoint_bytes);
        Result<user::SlotAllocator::Slot> to_init = child_slots.alloc();
        Result<user::SlotAllocator::Slot> notice = child_slots.alloc();
        std::uint64_t generation = ++generations_[index];
        std::uint64_t request_badge = (generation << slot_badge_bits) | (index + 1);
        if (own_endpoint && to_init && notice &&
            sys::cap_mint(endpoint_.addr(), to_init->cnode, to_init->index, right_write | right_grant,
                          request_badge) &&
            sys::cap_mint(endpoint_.addr(), notice->cnode, notice->index, right_write, index + 1)) {
            const CapAddr passed[] = {to_init->addr(), own_endpoint->addr(), extra};
            Spawner spawner(bi_, child_slots, pool, self_, scratch_window, child_heap_bytes);
            // Its own PID and core, as its environment says them.
            core::FixedString<24> pid_entry, core_entry;
            core::format_to(pid_entry, "PID={:x}", *pid);
            core::format_to(core_entry, "CORE={}", bi_.core_id);
            const char* env[] = {pid_entry.c_str(), core_entry.c_str()};
            spawner.set_environment(env, 2);
            // A second badged endpoint tells init when the child ends, so init can wait instead of polling.
            spawner.set_end_notice(notice->addr());
            const char* const names[] = {"init", "endpoint", "passed"};
            child = spawner.spawn(cmd, passed, extra == no_capability ? 2 : 3, names);
        }
    }
    if (!child || !pid) {
        if (pid) {
            (void)table_.exit(*pid, -1);
            (void)table_.reap(*pid);
        }
        reclaim(c);
        return error(!pid ? pid.error() : child.error());
    }
    c.live = true;
    c.generation = generations_[index];
    c.pid = *pid;
    c.channel = ::new (channel_storage_[index]) Channel(
        table_.find(*pid).value()->name, *pid, own_endpoint->addr(), request_buffers_[index], mm_, *this);
    (void)c.channel->start();
    c.dispatcher = child->dispatcher.addr();
    return ok();
}

unsigned ProcessManager::live() const {
    unsigned n = 0;
    for (const Child& c : children_)
        n += c.live ? 1 : 0;
    return n;
}

// Waits on init's endpoint for the next request or end of a child, and handles it.
void ProcessManager::serve_one() {
    (void)waitset_.event_dispatch();
}

// Characters came: the getchar calls waiting get them in the order they asked.
void ProcessManager::on_console(void* self, const sys::LmpMessage&, CapAddr) {
    auto& pm = *static_cast<ProcessManager*>(self);
    char c = 0;
    while (pm.getchar_count_ > 0 && pm.next_char(c)) {
        PendingGetchar g = pm.getchars_[0];
        for (std::size_t i = 1; i < pm.getchar_count_; ++i)
            pm.getchars_[i - 1] = pm.getchars_[i];
        --pm.getchar_count_;
        (void)g.asker->server.reply(g.token, proto::GetcharReply{c});
    }
}

// A child ended: notices carry the slot's number alone.
void ProcessManager::on_notice(void* self, const sys::LmpMessage& m, CapAddr) {
    auto& pm = *static_cast<ProcessManager*>(self);
    std::uint64_t index = m.badge - 1;
    if (index < max_children && pm.children_[index].live)
        pm.reap(pm.children_[index]);
}

// A request carries the slot and the generation of the child in it: one a dead child left queued never
// reaches the next child in its slot.
void ProcessManager::on_request(void* self, const sys::LmpMessage& m, CapAddr cap) {
    auto& pm = *static_cast<ProcessManager*>(self);
    std::uint64_t index = (m.badge & slot_badge_mask) - 1;
    if (index >= max_children || !pm.children_[index].live ||
        pm.children_[index].generation != m.badge >> slot_badge_bits)
        return;
    Child& c = pm.children_[index];
    c.channel->transport.deliver(user::frame_of(m.words), cap);
    (void)c.channel->server.poll(); // a handler that needs the capability copies it
    if (c.channel->transport.stuck()) {
        sys::print("init: {} (pid {:x}) does not take its replies: stopping it\n",
                   pm.table_.find(c.pid).value()->name, c.pid);
        (void)sys::dispatcher_stop(c.dispatcher); // its end notice reaps it
    }
}

// A child ended (the kernel's notification): report it, answer its waiters, take everything back.
void ProcessManager::reap(Child& c) {
    Result<sys::CapIdentity> id = sys::cap_identify(c.dispatcher);
    DispatcherStatus s = id ? dispatcher_status(id->status) : DispatcherStatus::stopped;
    const proc::Process* p = table_.find(c.pid).value();
    int status = s == DispatcherStatus::exited ? dispatcher_exit_status(id->status) : -1;
    if (s == DispatcherStatus::exited)
        sys::print("init: {} (pid {:x}) exited with status {}\n", p->name, c.pid, status);
    else
        sys::print("init: {} (pid {:x}) was stopped\n", p->name, c.pid);
    // Its waiters are answered now; the entry stays (exited, with its status) for waits still to come,
    // until its slot is needed.
    (void)table_.exit(c.pid, status);
    reclaim(c);
}

// Frees the table entries of processes that exited (their PIDs' generations move on, so a late wait for
// one is answered not_found rather than by another process).
void ProcessManager::forget_exited() {
    proc::Pid gone[max_children];
    std::size_t n = 0;
    table_.for_each([&](const proc::Process& p) {
        if (p.state == proc::ProcessState::exited && n < max_children)
            gone[n++] = p.pid;
    });
    for (std::size_t i = 0; i < n; ++i)
        (void)table_.reap(gone[i]);
}

Result<void> ProcessManager::control(proc::Pid pid, CapOp op) {
    Child* c = child_of(pid);
    if (c == nullptr)
        return error(Errc::not_found);
    return sys::invoke_status(c->dispatcher, op);
}

Result<std::uint32_t> ProcessManager::kill_all(core::StringRef name) {
    std::uint32_t killed = 0;
    for (Child& c : children_) {
        if (!c.live)
            continue;
        const proc::Process* p = table_.find(c.pid).value();
        if (p->name == name && p->state != proc::ProcessState::exited && sys::dispatcher_stop(c.dispatcher))
            ++killed;
    }
    return killed;
}

std::uint64_t ProcessManager::ram_of(proc::Pid pid) const {
    for (const Child& c : children_) {
        if (c.live && c.pid == pid && c.channel != nullptr)
            return c.channel->ram_bytes();
    }
    return 0;
}

// The pool's revoke deletes every capability the child had (its copies of RAM grants too, which live in its
// CNodes), so the grants can go back after it.
void ProcessManager::reclaim(Child& c) {
    if (c.pool.size != 0) {
        (void)sys::cap_revoke(c.pool.cap.slot.addr());
        (void)mm_.free(c.pool);
    }
    if (c.channel != nullptr) {
        c.channel->return_grants();
        c.channel->~Channel();
    }
    c = Child{};
}

} // namespace aos::init
