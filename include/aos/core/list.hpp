// Intrusive doubly linked list: nodes carry their own ListHook, so the list never allocates.
//
//   struct Waiter { aos::core::ListHook<Waiter> hook; int id; };
//   aos::core::IntrusiveList<Waiter, &Waiter::hook> queue;
//   Waiter w{.id = 1};
//   if (!queue.push_back(w)) ...;            // fails with already_linked if w is in a list
//   for (Waiter& x : queue) ...;
#pragma once

#include <aos/core/result.hpp>

#include <cstddef>

namespace aos::core {

template <class T>
class ListHook {
public:
    ListHook() = default;
    // A hook belongs to one node at one address: copying one would corrupt the list it is in.
    ListHook(const ListHook&) = delete;
    ListHook& operator=(const ListHook&) = delete;

    bool linked() const { return owner_ != nullptr; }

private:
    template <class U, ListHook<U> U::*>
    friend class IntrusiveList;

    T* prev_ = nullptr;
    T* next_ = nullptr;
    const void* owner_ = nullptr; // the list this node is in: erase from the wrong list is an error
};

template <class T, ListHook<T> T::* Hook>
class IntrusiveList {
public:
    class Iterator {
    public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        Iterator() = default;
        explicit Iterator(T* n) : node_(n) {}
        T& operator*() const { return *node_; }
        T* operator->() const { return node_; }
        Iterator& operator++() {
            node_ = (node_->*Hook).next_;
            return *this;
        }
        Iterator operator++(int) {
            Iterator old = *this;
            ++*this;
            return old;
        }
        bool operator==(const Iterator&) const = default;

    private:
        T* node_ = nullptr;
    };

    IntrusiveList() = default;
    IntrusiveList(const IntrusiveList&) = delete;
    IntrusiveList& operator=(const IntrusiveList&) = delete;

    bool empty() const { return head_ == nullptr; }
    std::size_t size() const { return size_; }
    T* front() const { return head_; }
    T* back() const { return tail_; }
    static T* next(const T& n) { return (n.*Hook).next_; }
    static T* prev(const T& n) { return (n.*Hook).prev_; }
    bool contains(const T& n) const { return (n.*Hook).owner_ == this; }

    Iterator begin() const { return Iterator(head_); }
    Iterator end() const { return Iterator(nullptr); }

    Result<void> push_front(T& n) { return insert_before(head_, n); }
    Result<void> push_back(T& n) { return insert_before(nullptr, n); }

    // Inserts n before pos (at the back when pos is null).
    Result<void> insert_before(T* pos, T& n) {
        if ((n.*Hook).linked())
            return error(Errc::already_linked);
        if (pos != nullptr && !contains(*pos))
            return error(Errc::not_linked);
        ListHook<T>& h = n.*Hook;
        T* before = pos != nullptr ? (pos->*Hook).prev_ : tail_;
        h.prev_ = before;
        h.next_ = pos;
        h.owner_ = this;
        if (before != nullptr)
            (before->*Hook).next_ = &n;
        else
            head_ = &n;
        if (pos != nullptr)
            (pos->*Hook).prev_ = &n;
        else
            tail_ = &n;
        ++size_;
        return ok();
    }

    Result<void> erase(T& n) {
        if (!contains(n))
            return error(Errc::not_linked);
        ListHook<T>& h = n.*Hook;
        if (h.prev_ != nullptr)
            (h.prev_->*Hook).next_ = h.next_;
        else
            head_ = h.next_;
        if (h.next_ != nullptr)
            (h.next_->*Hook).prev_ = h.prev_;
        else
            tail_ = h.prev_;
        h.prev_ = h.next_ = nullptr;
        h.owner_ = nullptr;
        --size_;
        return ok();
    }

    T* pop_front() {
        T* n = head_;
        if (n != nullptr)
            (void)erase(*n);
        return n;
    }
    T* pop_back() {
        T* n = tail_;
        if (n != nullptr)
            (void)erase(*n);
        return n;
    }

    // Walks the list once: links agree in both directions, every node names this list, size matches.
    [[nodiscard]] bool check_invariants() const {
        std::size_t count = 0;
        const T* prev = nullptr;
        for (const T* n = head_; n != nullptr; n = (n->*Hook).next_) {
            if ((n->*Hook).owner_ != this || (n->*Hook).prev_ != prev)
                return false;
            prev = n;
            if (++count > size_)
                return false;
        }
        return prev == tail_ && count == size_;
    }

private:
    T* head_ = nullptr;
    T* tail_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace aos::core
