// Dispatchers at EL0: their slots and address spaces (aos::vm::PageTable), round-robin preemption, the
// dispatcher invocations, the system-call dispatcher and user-fault reports. The programs the kernel loads
// at boot are boot_programs.cpp's.
#include "dispatch.hpp"

#include "arch/aarch64/sysreg.hpp"
#include "caps.hpp"
#include "console.hpp"
#include "dispatch_internal.hpp"
#include "dispatcher.hpp"
#include "irq.hpp"
#include "lmp.hpp"
#include "memory_layout.hpp"
#include "mmu.hpp"
#include "panic.hpp"
#include "power.hpp"
#include "timer.hpp"

#include <aos/abi/capability.hpp>
#include <aos/abi/syscall.hpp>
#include <aos/arch/aarch64/generic_timer.hpp>
#include <aos/arch/aarch64/mmu.hpp>
#include <aos/arch/aarch64/registers.hpp>
#include <aos/arch/page.hpp>
#include <aos/core/list.hpp>

#include <new>

extern "C" {
extern char boot_stack_top[];
[[noreturn]] void enter_user(kernel::TrapFrame* frame);
void fp_state_save(void* state);
void fp_state_restore(const void* state);
}

namespace kernel {

namespace a64 = aos::arch::aarch64;

namespace {

Dispatcher dispatchers[max_dispatchers]; // zero-initialized .bss; constructed in place by new_dispatcher
aos::core::IntrusiveList<Dispatcher, &Dispatcher::all_hook> every; // boot-made and RAM-made, while they exist
aos::core::IntrusiveList<Dispatcher, &Dispatcher::run_hook> run_queue;
aos::core::IntrusiveList<Dispatcher, &Dispatcher::run_hook> sleeping; // blocked in sleep, any order
constinit Dispatcher* current = nullptr;
constinit unsigned finished = 0;
// Dispatchers made from RAM are numbered after the boot slots, never reusing a number.
constinit unsigned next_ram_dispatcher_id = max_dispatchers + 1;

// ASIDs: the boot slots use 1..max_dispatchers; dispatchers made from RAM take the rest of the 8-bit range
// (every AArch64 implementation has at least 8 bits). ASID 0 stays unused.
constexpr unsigned asid_count = a64::asid_count_8bit;
constinit std::uint64_t ram_asids_used[asid_count / 64] = {};

bool asid_used(unsigned a) {
    return (ram_asids_used[a / 64] >> (a % 64)) & 1;
}
void set_asid_used(unsigned a, bool used) {
    std::uint64_t bit = std::uint64_t{1} << (a % 64);
    ram_asids_used[a / 64] = used ? (ram_asids_used[a / 64] | bit) : (ram_asids_used[a / 64] & ~bit);
}

// Ends the address-space objects a failed spawn left in a free slot, before the slot is built again. (The
// frames themselves came from the boot allocator, which cannot take them back.)
void release_address_space(Dispatcher& d) {
    if (d.table == nullptr)
        return;
    d.table->~UserPageTable();
    std::launder(reinterpret_cast<KernelNodePool*>(d.pool_storage))->~KernelNodePool();
    std::launder(reinterpret_cast<UserBackend*>(d.backend_storage))->~UserBackend();
    d.table = nullptr;
}

void activate_address_space(const Dispatcher& d) {
    KERNEL_WRITE_SYSREG(ttbr0_el1, d.ttbr0());
    std::uint64_t tcr = KERNEL_READ_SYSREG(tcr_el1);
    KERNEL_WRITE_SYSREG(tcr_el1, a64::tcr::Epd0::set(tcr, false));
    __asm__ volatile("isb" ::: "memory");
}

// Not yet ended: it may still run (now, when started, resumed, woken or a message comes).
bool is_live(const Dispatcher& d) {
    return d.state == DispatcherState::created || d.state == DispatcherState::runnable ||
           d.state == DispatcherState::blocked || d.state == DispatcherState::receiving ||
           d.state == DispatcherState::suspended;
}

// Has run, and may run again: its registers are worth saving.
bool has_state(const Dispatcher* d) {
    return d != nullptr && is_live(*d) && d->state != DispatcherState::created;
}

// The running dispatcher's registers leave the exception frame for its own save area.
void save_current(const TrapFrame& frame) {
    if (has_state(current)) {
        current->frame = frame;
        fp_state_save(&current->fp);
    }
}

// Saves the interrupted dispatcher's state from the exception frame and loads the next one's into it.
void switch_to(Dispatcher& next, TrapFrame& frame) {
    if (current == &next)
        return;
    save_current(frame);
    current = &next;
    frame = next.frame;
    fp_state_restore(&next.fp);
    activate_address_space(next);
}

// Nothing can run any more: every program ended, or those left wait for a start or resume nobody can give.
[[noreturn]] void all_finished() {
    unsigned waiting = 0;
    for (const Dispatcher* d = every.front(); d != nullptr; d = every.next(*d)) {
        if (d->state == DispatcherState::created || d->state == DispatcherState::suspended ||
            d->state == DispatcherState::receiving)
            ++waiting;
    }
    if (waiting == 0)
        print("aos: all {} programs finished\n", finished);
    else
        print("aos: nothing can run: {} programs finished, {} waiting for a start, a resume or a message\n",
              finished, waiting);
    shutdown(ExitStatus::success);
}

// Moves every sleeper whose time has come to the back of the run queue.
void wake_sleepers() {
    std::uint64_t now = timer_counter();
    for (Dispatcher* d = sleeping.front(); d != nullptr;) {
        Dispatcher* after = sleeping.next(*d);
        if (d->wake_at <= now) {
            (void)sleeping.erase(*d);
            d->state = DispatcherState::runnable;
            (void)run_queue.push_back(*d);
        }
        d = after;
    }
}

bool input_can_wake();

// Continues with the first runnable dispatcher. With none runnable but some asleep, the core idles in wfi
// (the timer tick keeps coming) until one wakes; with none left at all, the run ends.
void schedule_next(TrapFrame& frame) {
    if (run_queue.empty() && current != nullptr) {
        // About to idle. What wakes a waiting dispatcher (a message, a notice) writes into its save area, so
        // its registers must be there, and it must be loaded from there even if it is the one that runs
        // next: nobody is current while the core idles.
        save_current(frame);
        current = nullptr;
    }
    while (run_queue.empty()) {
        if (sleeping.empty() && !input_can_wake())
            all_finished();
        wait_for_interrupt();
        wake_sleepers();
    }
    switch_to(*run_queue.front(), frame);
}

// Whoever asked to hear of d's end hears it now.
void notify_ended(Dispatcher& d) {
    if (!d.notify.empty())
        endpoint_notify(d.notify.cap.base, d.notify.cap.word);
}

// Takes d off the queue its state puts it on. A receiver leaves its endpoint; its receive ends with
// would_block (when it runs again it may receive again).
void dequeue(Dispatcher& d) {
    if (d.state == DispatcherState::runnable) {
        (void)run_queue.erase(d);
    } else if (d.state == DispatcherState::blocked) {
        (void)sleeping.erase(d);
    } else if (d.state == DispatcherState::receiving) {
        lmp_cancel_receive(d);
        d.frame.x[0] = aos::abi::encode_error(aos::Errc::would_block);
        d.frame.x[1] = 0;
    }
}

// d is done (exited, stopped, its capability or address space gone): off its queue, in its final state,
// counted, and whoever asked hears of it.
void end_dispatcher(Dispatcher& d, DispatcherState why) {
    dequeue(d);
    d.state = why;
    ++finished;
    notify_ended(d);
}

// The current dispatcher is done: end it and continue with the next one (or end).
void retire_current(TrapFrame& frame, DispatcherState why) {
    end_dispatcher(*current, why);
    schedule_next(frame);
}

// Blocks the caller until the counter reaches `wake_at`; its result is already in the frame.
void sleep_current(TrapFrame& frame, std::uint64_t us) {
    Dispatcher* d = current;
    std::uint64_t ticks = timer_ticks_for_us(us);
    std::uint64_t now = timer_counter();
    d->wake_at = now + ticks < now ? ~std::uint64_t{0} : now + ticks;
    d->state = DispatcherState::blocked;
    (void)run_queue.erase(*d);
    (void)sleeping.push_back(*d);
    schedule_next(frame);
}

// The dispatcher operations change states and queues only; the caller reschedules when the current
// dispatcher stopped being runnable, after its result is in its saved frame.
aos::Result<void> dispatcher_start(Dispatcher& d) {
    if (d.state != DispatcherState::created)
        return aos::error(aos::Errc::invalid_state);
    d.state = DispatcherState::runnable;
    (void)run_queue.push_back(d);
    return aos::ok();
}

aos::Result<void> dispatcher_suspend(Dispatcher& d) {
    if (d.state != DispatcherState::runnable && d.state != DispatcherState::blocked &&
        d.state != DispatcherState::receiving)
        return aos::error(aos::Errc::invalid_state);
    d.asleep_when_suspended = d.state == DispatcherState::blocked;
    dequeue(d);
    d.state = DispatcherState::suspended;
    return aos::ok();
}

// A sleeper goes back to sleep with its wake-up time (the next tick wakes it if that has passed).
aos::Result<void> dispatcher_resume(Dispatcher& d) {
    if (d.state != DispatcherState::suspended)
        return aos::error(aos::Errc::invalid_state);
    if (d.asleep_when_suspended) {
        d.state = DispatcherState::blocked;
        (void)sleeping.push_back(d);
    } else {
        d.state = DispatcherState::runnable;
        (void)run_queue.push_back(d);
    }
    return aos::ok();
}

aos::Result<void> dispatcher_stop(Dispatcher& d) {
    if (!is_live(d))
        return aos::error(aos::Errc::invalid_state);
    print("aos: {} (dispatcher {}) stopped by {}\n", static_cast<const char*>(d.name), d.id,
          static_cast<const char*>(current->name));
    end_dispatcher(d, DispatcherState::stopped);
    return aos::ok();
}

// Names the endpoint (argument x2) a notice goes to, in `slot`: a badge that fits the endpoint's pending bits
// and the right to send; no_capability empties the slot. Dispatchers' end notices and the console's input
// notices alike.
InvokeOutcome set_notice_endpoint(const Cte& root, std::uint64_t addr, Cte& slot) {
    if (addr == aos::abi::no_capability) {
        cap_delete(slot);
        return InvokeOutcome::success();
    }
    aos::Result<Cte*> ep = cap_lookup(root, addr);
    if (!ep)
        return InvokeOutcome::failure(ep.error(), arg2);
    const Capability& e = (*ep)->cap;
    if (e.type != aos::abi::ObjType::endpoint || e.word == 0 || e.word > aos::abi::notify_badge_max)
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg2);
    if ((e.rights & aos::abi::right_write) == 0)
        return InvokeOutcome::failure(aos::Errc::permission_denied, arg2);
    cap_delete(slot);
    install_copy(slot, **ep);
    return InvokeOutcome::success();
}

bool is_dispatcher_op(aos::abi::CapOp op) {
    using aos::abi::CapOp;
    return op == CapOp::dispatcher_start || op == CapOp::dispatcher_suspend ||
           op == CapOp::dispatcher_resume || op == CapOp::dispatcher_stop || op == CapOp::dispatcher_setup ||
           op == CapOp::dispatcher_configure || op == CapOp::dispatcher_set_fault_handler ||
           op == CapOp::dispatcher_set_notify;
}

// A dispatcher made from RAM gets its CSpace and address space (copies of the capabilities, which keep the
// objects alive), its entry point and stack. Every argument is checked before anything changes.
InvokeOutcome dispatcher_setup(const Cte& root, Dispatcher& d, const std::uint64_t (&a)[6]) {
    using aos::abi::ObjType;
    if (d.state != DispatcherState::free || d.table != nullptr)
        return InvokeOutcome::failure(aos::Errc::invalid_state, arg_target);
    aos::Result<Cte*> cspace = cap_lookup(root, a[2]);
    if (!cspace)
        return InvokeOutcome::failure(cspace.error(), arg2);
    if ((*cspace)->cap.type != ObjType::l1_cnode)
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg2);
    aos::Result<Cte*> vspace = cap_lookup(root, a[3]);
    if (!vspace)
        return InvokeOutcome::failure(vspace.error(), arg3);
    if ((*vspace)->cap.type != ObjType::vnode_l0)
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg3);
    if (a[4] >= user_space_end || a[4] % aos::abi::instruction_alignment != 0)
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg4);
    if (a[5] > user_space_end || a[5] % aos::abi::stack_alignment != 0)
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg5);
    install_copy(d.cspace, **cspace);
    install_copy(d.vspace, **vspace);
    d.vspace.root_of_dispatcher = &d;
    std::uint64_t argument = d.frame.x[0]; // dispatcher_configure may have come first
    d.frame = TrapFrame{};
    d.frame.x[0] = argument;
    d.frame.elr = a[4];
    d.frame.sp_el0 = a[5];
    d.frame.spsr = a64::spsr::Mode::make(a64::spsr::mode_el0t);
    d.state = DispatcherState::created;
    return InvokeOutcome::success();
}

// Its first argument register and its name (up to 24 bytes in x3..x5), before it starts.
InvokeOutcome dispatcher_configure(Dispatcher& d, const std::uint64_t (&a)[6]) {
    if (d.state != DispatcherState::free && d.state != DispatcherState::created)
        return InvokeOutcome::failure(aos::Errc::invalid_state, arg_target);
    d.frame.x[0] = a[2];
    const std::uint64_t words[aos::abi::name_registers] = {a[3], a[4], a[5]};
    (void)aos::abi::unpack_name(words, d.name, name_max);
    return InvokeOutcome::success();
}

InvokeOutcome set_fault_handler(Dispatcher& d, const std::uint64_t (&args)[6]) {
    if (args[2] >= user_space_end || args[2] % aos::abi::instruction_alignment != 0)
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg2);
    if (args[3] > user_space_end || args[3] % aos::abi::stack_alignment != 0 ||
        (args[2] != 0 && args[3] == 0))
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg3);
    d.fault_handler = args[2];
    d.fault_stack = args[3];
    return InvokeOutcome::success();
}

// The state changes report on the dispatcher itself (argument 0) when its state does not allow them.
InvokeOutcome state_change(aos::Result<void> r) {
    return r ? InvokeOutcome::success() : InvokeOutcome::failure(r.error(), arg_target);
}

InvokeOutcome invoke_dispatcher(const Cte& root, const Cte& target, aos::abi::CapOp op,
                                const std::uint64_t (&args)[6]) {
    using aos::abi::CapOp;
    Dispatcher& d = dispatcher_at(target.cap);
    if ((target.cap.rights & aos::abi::right_write) == 0)
        return InvokeOutcome::failure(aos::Errc::permission_denied, arg_target);
    switch (op) {
    case CapOp::dispatcher_setup:
        return dispatcher_setup(root, d, args);
    case CapOp::dispatcher_configure:
        return dispatcher_configure(d, args);
    case CapOp::dispatcher_set_notify:
        return set_notice_endpoint(root, args[2], d.notify);
    case CapOp::dispatcher_set_fault_handler:
        return set_fault_handler(d, args);
    case CapOp::dispatcher_start:
        return state_change(dispatcher_start(d));
    case CapOp::dispatcher_suspend:
        return state_change(dispatcher_suspend(d));
    case CapOp::dispatcher_resume:
        return state_change(dispatcher_resume(d));
    case CapOp::dispatcher_stop:
        return state_change(dispatcher_stop(d));
    default:
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg_op);
    }
}

void report_and_stop(TrapFrame& frame, const TrapFrame& fault, const char* where) {
    auto ec = a64::esr::Ec::get(fault.esr);
    print("aos: {} (dispatcher {}) stopped: {}{} at ELR {:x}, FAR {:x}, ESR {:x}\n",
          static_cast<const char*>(current->name), current->id, a64::exception_class_name(ec), where,
          fault.elr, fault.far, fault.esr);
    retire_current(frame, DispatcherState::stopped);
}

bool is_page_fault(const TrapFrame& frame) {
    auto ec = a64::esr::Ec::get(frame.esr);
    return ec == static_cast<a64::Reg>(a64::ExceptionClass::data_abort_lower) ||
           ec == static_cast<a64::Reg>(a64::ExceptionClass::inst_abort_lower);
}

// A page fault goes to the dispatcher's handler when it has one and is not in it already; the faulting
// registers (general and FP) wait in the dispatcher until the handler returns.
void stop_faulting(TrapFrame& frame) {
    Dispatcher& d = *current;
    if (d.in_fault_handler) {
        report_and_stop(frame, frame, " in its page-fault handler");
        return;
    }
    if (!is_page_fault(frame) || d.fault_handler == 0) {
        report_and_stop(frame, frame, "");
        return;
    }
    d.fault_frame = frame;
    fp_state_save(&d.fault_fp);
    d.in_fault_handler = true;
    frame.x[0] = frame.far;
    frame.x[1] = frame.esr;
    frame.x[2] = frame.elr;
    frame.elr = d.fault_handler;
    frame.sp_el0 = d.fault_stack;
}

// The handler is done: retry the faulting instruction, or give up and be stopped with the fault reported.
InvokeOutcome fault_return(Dispatcher& d, std::uint64_t how, TrapFrame& frame) {
    if (&d != current || !d.in_fault_handler)
        return InvokeOutcome::failure(aos::Errc::invalid_state, arg_target);
    if (how != aos::abi::fault_resume && how != aos::abi::fault_give_up)
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg2);
    d.in_fault_handler = false;
    if (how == aos::abi::fault_give_up) {
        report_and_stop(frame, d.fault_frame, ", which its handler gave up on,");
        return InvokeOutcome::success();
    }
    frame = d.fault_frame;
    fp_state_restore(&d.fault_fp);
    return InvokeOutcome::success();
}

// The endpoint told when console input arrives (console_set_notify), or empty.
Cte console_notify;

// The console's input listener: notifies that endpoint.
void notify_console_input() {
    if (!console_notify.empty())
        endpoint_notify(console_notify.cap.base, console_notify.cap.word);
}

// Someone waits on an endpoint that console input notifies: typing may wake it, so the core idles instead
// of ending the run.
bool input_can_wake() {
    if (console_notify.empty())
        return false;
    for (const Dispatcher* d = every.front(); d != nullptr; d = every.next(*d)) {
        if (d->state == DispatcherState::receiving)
            return true;
    }
    return false;
}

InvokeOutcome invoke_console(const Cte& root, const Cte& target, aos::abi::CapOp op,
                             const std::uint64_t (&a)[6]) {
    if ((target.cap.rights & aos::abi::right_read) == 0)
        return InvokeOutcome::failure(aos::Errc::permission_denied, arg_target);
    if (op == aos::abi::CapOp::console_read) {
        std::uint64_t chars = 0, n = 0;
        for (int c; n < sizeof(chars) && (c = console_try_getchar()) >= 0; ++n)
            chars |= static_cast<std::uint64_t>(c) << (8 * n);
        return InvokeOutcome::success(chars, n);
    }
    if (op != aos::abi::CapOp::console_set_notify)
        return InvokeOutcome::failure(aos::Errc::invalid_argument, arg_op);
    return set_notice_endpoint(root, a[2], console_notify);
}

// x0..x5 in, x0 = 0 or the error, then x1..x5 the results or x1 the number of the argument that was wrong.
void handle_invoke(TrapFrame& frame) {
    std::uint64_t args[aos::abi::syscall_argument_count];
    for (unsigned i = 0; i < aos::abi::syscall_argument_count; ++i)
        args[i] = frame.x[i];
    auto op = static_cast<aos::abi::CapOp>(args[1]);
    InvokeOutcome out;
    aos::Result<Cte*> target = cap_lookup(current->cspace, args[0]);
    // Returning from a page-fault handler replaces the whole register state: no result is written.
    if (target && (*target)->cap.type == aos::abi::ObjType::dispatcher &&
        op == aos::abi::CapOp::dispatcher_fault_return &&
        ((*target)->cap.rights & aos::abi::right_write) != 0) {
        Dispatcher& d = dispatcher_at((*target)->cap);
        bool was_handling = &d == current && d.in_fault_handler;
        InvokeOutcome r = fault_return(d, args[2], frame);
        if (was_handling && r.ok)
            return; // resumed, or stopped and the next dispatcher's registers are in the frame
        out = r;
    } else if (!target)
        out = InvokeOutcome::failure(target.error(), arg_target);
    else if ((*target)->cap.type == aos::abi::ObjType::dispatcher && is_dispatcher_op(op))
        out = invoke_dispatcher(current->cspace, **target, op, args);
    else if ((*target)->cap.type == aos::abi::ObjType::console)
        out = invoke_console(current->cspace, **target, op, args);
    else if ((*target)->cap.type == aos::abi::ObjType::endpoint && is_endpoint_op(op))
        out = invoke_endpoint(current->cspace, **target, op, frame);
    else
        out = cap_invoke(current->cspace, **target, op, args);
    if (out.registers_written) {
        if (current->state != DispatcherState::runnable)
            schedule_next(frame); // a receiver that waits
        return;
    }
    frame.x[0] = out.ok ? aos::abi::syscall_success : aos::abi::encode_error(out.error);
    if (out.ok) {
        for (unsigned i = 0; i < InvokeOutcome::value_count; ++i)
            frame.x[1 + i] = out.value[i];
    } else {
        frame.x[1] = out.bad_argument;
    }
    if (current->state != DispatcherState::runnable)
        schedule_next(frame); // it suspended or stopped itself
}

// User memory the kernel may read: every page mapped and readable at EL0 in the current address space. The
// MMU answers (AT S1E0R), so pages the process mapped itself through VNode capabilities count too.
bool user_readable(std::uint64_t va, std::uint64_t size) {
    if (size == 0)
        return true;
    if (va >= user_space_end || size > user_space_end - va)
        return false;
    for (std::uint64_t p = aos::arch::page_down(va); p < va + size; p += page) {
        __asm__ volatile("at s1e0r, %0\n isb" ::"r"(p) : "memory");
        if (a64::par::F::get(KERNEL_READ_SYSREG(par_el1)))
            return false;
    }
    return true;
}

void set_result(TrapFrame& frame, aos::Result<std::uint64_t> r) {
    frame.x[0] = r ? aos::abi::syscall_success : aos::abi::encode_error(r.error());
    frame.x[1] = r ? *r : 0;
}

aos::Result<std::uint64_t> sys_debug_print(std::uint64_t ptr, std::uint64_t len) {
    if (len > aos::abi::debug_print_max)
        return aos::error(aos::Errc::out_of_range);
    if (!user_readable(ptr, len))
        return aos::error(aos::Errc::invalid_argument);
    ConsoleGuard guard;
    ConsoleSink sink;
    const auto* text = reinterpret_cast<const char*>(ptr);
    for (std::uint64_t i = 0; i < len; ++i)
        sink.put(text[i]);
    return len;
}

// On a tick or a yield, the next runnable dispatcher gets the CPU.
void preempt(TrapFrame& frame) {
    if (run_queue.size() < 2)
        return;
    Dispatcher* d = current;
    (void)run_queue.erase(*d);
    (void)run_queue.push_back(*d);
    switch_to(*run_queue.front(), frame);
}

void handle_syscall(TrapFrame& frame) {
    using aos::abi::Syscall;
    switch (static_cast<Syscall>(frame.x[aos::abi::syscall_number_register])) {
    case Syscall::debug_print:
        set_result(frame, sys_debug_print(frame.x[0], frame.x[1]));
        return;
    case Syscall::yield: {
        set_result(frame, std::uint64_t{0});
        preempt(frame);
        return;
    }
    case Syscall::exit:
        current->exit_status = static_cast<std::int32_t>(frame.x[0]);
        print("aos: {} (dispatcher {}) exited with status {}\n", static_cast<const char*>(current->name),
              current->id, static_cast<std::int64_t>(frame.x[0]));
        // A cheap moment to check what every capability operation must preserve.
        if (!caps_check_invariants())
            KERNEL_PANIC("the mapping database's invariants do not hold");
        retire_current(frame, DispatcherState::exited);
        return;
    case Syscall::invoke:
        handle_invoke(frame);
        return;
    case Syscall::sleep: {
        std::uint64_t us = frame.x[0]; // read before the result overwrites x0
        set_result(frame, std::uint64_t{0});
        sleep_current(frame, us);
        return;
    }
    }
    set_result(frame, aos::error(aos::Errc::invalid_argument));
}

} // namespace

aos::Result<Dispatcher*> new_dispatcher(aos::core::StringRef name) {
    for (unsigned i = 0; i < max_dispatchers; ++i) {
        Dispatcher& d = dispatchers[i];
        if (d.state != DispatcherState::free)
            continue;
        release_address_space(d);
        std::uint64_t tables_pa = AOS_TRY(boot_frames_alloc(tables_per_space * page));
        auto* table_frames = reinterpret_cast<UserBackend::Frame*>(phys_to_virt(tables_pa));
        d.tlb.asid = i + 1; // ASID 0 stays unused: nothing global is tagged with it
        auto* backend = ::new (d.backend_storage) UserBackend(
            {table_frames, tables_per_space}, 0 - kernel_virt_offset, d.tlb, {d.records, tables_per_space});
        auto* pool = ::new (d.pool_storage) KernelNodePool({d.node_slots, tables_per_space});
        d.table = ::new (d.table_storage) UserPageTable(*backend, *pool);
        AOS_TRY(d.table->init());
        d.id = i + 1;
        if (!d.all_hook.linked())
            (void)every.push_back(d);
        std::size_t n = name.size < name_max - 1 ? name.size : name_max - 1;
        for (std::size_t c = 0; c < n; ++c)
            d.name[c] = name.data[c];
        d.name[n] = '\0';
        return &d;
    }
    return aos::error(aos::Errc::no_memory);
}

Dispatcher* dispatcher_by_id(std::uint64_t id) {
    if (id == 0 || id > max_dispatchers || dispatchers[id - 1].state == DispatcherState::free)
        return nullptr;
    return &dispatchers[id - 1];
}

Capability dispatcher_cap(const Dispatcher& d) {
    return Capability{.type = aos::abi::ObjType::dispatcher,
                      .rights = aos::abi::rights_all,
                      .base = virt_to_phys(reinterpret_cast<std::uintptr_t>(&d)),
                      .size = aos::abi::dispatcher_bytes,
                      .word = d.id};
}

Dispatcher& dispatcher_at(const Capability& c) {
    return *reinterpret_cast<Dispatcher*>(phys_to_virt(c.base));
}

std::uint64_t dispatcher_status_word(const Capability& c) {
    const Dispatcher& d = dispatcher_at(c);
    return aos::abi::dispatcher_status_word(static_cast<aos::abi::DispatcherStatus>(d.state), d.exit_status);
}

Dispatcher& current_dispatcher() {
    return *current;
}

void make_runnable(Dispatcher& d) {
    d.state = DispatcherState::runnable;
    d.waiting_on = nullptr;
    (void)run_queue.push_back(d);
}

void make_waiting(Dispatcher& d, DispatcherState why) {
    (void)run_queue.erase(d);
    d.state = why;
}

unsigned dispatcher_asids_free() {
    unsigned n = 0;
    for (unsigned a = max_dispatchers + 1; a < asid_count; ++a)
        n += asid_used(a) ? 0 : 1;
    return n;
}

std::uint64_t dispatcher_construct(std::uint64_t pa) {
    auto* d = ::new (reinterpret_cast<void*>(phys_to_virt(pa))) Dispatcher();
    unsigned asid = max_dispatchers + 1;
    while (asid_used(asid))
        ++asid;
    if (asid >= asid_count)
        KERNEL_PANIC("dispatcher retype: no ASID, though retype checked");
    set_asid_used(asid, true);
    d->tlb.asid = asid;
    d->id = next_ram_dispatcher_id++;
    const char unnamed[] = "process";
    for (std::size_t i = 0; i < sizeof(unnamed); ++i)
        d->name[i] = unnamed[i];
    (void)every.push_back(*d);
    return d->id;
}

void dispatcher_lost_address_space(void* dispatcher) {
    auto* d = static_cast<Dispatcher*>(dispatcher);
    bool live = is_live(*d);
    if (!live)
        return;
    print("aos: {} (dispatcher {}) stopped: its address space was deleted\n",
          static_cast<const char*>(d->name), d->id);
    end_dispatcher(*d, DispatcherState::stopped);
}

void dispatcher_destroy(std::uint64_t pa, Cte*& cspace, Cte*& vspace, Cte*& notify) {
    auto* d = reinterpret_cast<Dispatcher*>(phys_to_virt(pa));
    bool live = is_live(*d);
    if (live) {
        print("aos: {} (dispatcher {}) stopped: its last dispatcher capability was deleted\n",
              static_cast<const char*>(d->name), d->id);
        end_dispatcher(*d, DispatcherState::stopped);
    }
    d->state = DispatcherState::stopped;
    (void)every.erase(*d);
    // Its ASID may be handed out again: nothing tagged with it may stay in a TLB.
    d->tlb.invalidate_all();
    d->tlb.sync();
    set_asid_used(static_cast<unsigned>(d->tlb.asid), false);
    cspace = &d->cspace;
    vspace = &d->vspace;
    notify = &d->notify;
}

void dispatch_init() {
    // Programs may read the virtual counter and its frequency to time themselves ...
    std::uint64_t cntkctl = KERNEL_READ_SYSREG(cntkctl_el1);
    KERNEL_WRITE_SYSREG(cntkctl_el1, aos::arch::aarch64::generic_timer::CntkctlEl0Vcten::set(cntkctl, true));
    // ... and count the instructions of a code path (event counter 0: instructions retired, EL0 and EL1).
    KERNEL_WRITE_SYSREG(pmevtyper0_el0, a64::pmu::event_inst_retired);
    KERNEL_WRITE_SYSREG(pmcntenset_el0, a64::pmu::CntenCounter0::mask);
    KERNEL_WRITE_SYSREG(pmcr_el0, a64::pmu::PmcrE::set(KERNEL_READ_SYSREG(pmcr_el0), true));
    KERNEL_WRITE_SYSREG(pmuserenr_el0, a64::pmu::UserenrEn::mask | a64::pmu::UserenrEr::mask);
    console_set_input_listener(&notify_console_input);
}

void run_dispatchers(std::uint64_t quantum_us) {
    Dispatcher* first = run_queue.front();
    if (first == nullptr)
        all_finished();
    current = first;
    activate_address_space(*first);
    fp_state_restore(&first->fp);
    timer_start_periodic(quantum_us);
    // The frame goes where the vectors would have put it, at the top of the kernel stack.
    auto* frame =
        reinterpret_cast<TrapFrame*>(reinterpret_cast<std::uintptr_t>(boot_stack_top) - sizeof(TrapFrame));
    *frame = first->frame;
    enter_user(frame);
}

void handle_user_exception(unsigned index, TrapFrame& frame) {
    if (current == nullptr)
        KERNEL_PANIC("exception from EL0 with no dispatcher");
    switch (a64::vector_kind(index)) {
    case a64::VectorKind::irq: {
        std::uint64_t ticks = timer_ticks();
        handle_irq();
        if (timer_ticks() != ticks) {
            wake_sleepers();
            preempt(frame);
        }
        return;
    }
    case a64::VectorKind::sync:
        if (a64::esr::Ec::get(frame.esr) == static_cast<a64::Reg>(a64::ExceptionClass::svc_a64))
            handle_syscall(frame);
        else
            stop_faulting(frame);
        return;
    default:
        stop_faulting(frame);
        return;
    }
}

} // namespace kernel
