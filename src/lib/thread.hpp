// Threads: more dispatchers in the process's own address space and CSpace, made from the heap's RAM, each
// with its own stack, page-fault stack and dispatcher capability (behind TPIDR_EL0). With src/lib/sync.hpp
// for mutexes and condition variables; the heap and the RPC client are safe to use from several threads.
//
//   aos::thread::Thread* t = AOS_TRY(aos::thread::create(work, &arg));
//   int status = AOS_TRY(aos::thread::join(t));
#pragma once

#include <aos/core/result.hpp>

namespace aos::thread {

using Fn = int (*)(void* arg);
struct Thread;

// Starts fn(arg) on a new thread. no_memory when the heap's RAM or slots run out; not_found in a process
// without a heap.
Result<Thread*> create(Fn fn, void* arg);
// Waits (yielding) until the thread has ended and returns what fn returned; frees what it had, except the
// 8 KiB of its dispatcher, which the heap's RAM does not take back.
Result<int> join(Thread* t);
// Threads created and not yet joined.
unsigned running();

} // namespace aos::thread
