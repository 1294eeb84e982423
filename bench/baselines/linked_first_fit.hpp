// Baseline: the classic student physical memory manager -- one singly linked list of every node (free and
// allocated) in address order, first fit by walking from the head, free by walking to the node. O(n) per
// call; only whole allocations can be freed. Written for the benchmark, after the common course design.
#pragma once

#include <cstdint>
#include <vector>

namespace baseline {

class LinkedFirstFit {
public:
    explicit LinkedFirstFit(std::uint64_t base, std::uint64_t size) {
        head_ = make(base, size, true, nullptr);
    }
    ~LinkedFirstFit() {
        for (Node* n = head_; n != nullptr;) {
            Node* next = n->next;
            release(n);
            n = next;
        }
        for (Node* n : pool_)
            delete n;
    }
    LinkedFirstFit(const LinkedFirstFit&) = delete;
    LinkedFirstFit& operator=(const LinkedFirstFit&) = delete;

    // Lowest aligned fit; returns false when none.
    bool alloc(std::uint64_t size, std::uint64_t align, std::uint64_t& out) {
        for (Node* n = head_; n != nullptr; n = n->next) {
            if (!n->free || n->size < size)
                continue;
            std::uint64_t start = (n->base + align - 1) & ~(align - 1);
            std::uint64_t end = n->base + n->size;
            if (start >= end || end - start < size)
                continue;
            // Split into [base, start) free, [start, start + size) allocated, [start + size, end) free.
            if (start + size < end)
                n->next = make(start + size, end - start - size, true, n->next);
            if (start > n->base) {
                n->next = make(start, size, false, n->next);
                n->size = start - n->base;
            } else {
                n->size = size;
                n->free = false;
            }
            out = start;
            return true;
        }
        return false;
    }

    // Frees the allocation starting at base, merging with free neighbours (the walk keeps the predecessor).
    bool free(std::uint64_t base) {
        Node* prev = nullptr;
        for (Node* n = head_; n != nullptr; prev = n, n = n->next) {
            if (n->base != base)
                continue;
            if (n->free)
                return false;
            n->free = true;
            if (n->next != nullptr && n->next->free) {
                Node* next = n->next;
                n->size += next->size;
                n->next = next->next;
                release(next);
            }
            if (prev != nullptr && prev->free) {
                prev->size += n->size;
                prev->next = n->next;
                release(n);
            }
            return true;
        }
        return false;
    }

    // Setup only: appends an allocation at the end of the last free node, which is where first fit puts it
    // when nothing has been freed yet and the alignment is a page.
    bool append(std::uint64_t size) {
        if (tail_free_ == nullptr) {
            for (Node* n = head_; n != nullptr; n = n->next)
                tail_free_ = n;
        }
        Node* t = tail_free_;
        if (!t->free || t->size < size)
            return false;
        Node* rest = t->size > size ? make(t->base + size, t->size - size, true, t->next) : nullptr;
        t->size = size;
        t->free = false;
        if (rest != nullptr)
            t->next = rest;
        tail_free_ = rest != nullptr ? rest : t;
        return true;
    }

    std::uint64_t largest_free() const {
        std::uint64_t m = 0;
        for (Node* n = head_; n != nullptr; n = n->next)
            m = n->free && n->size > m ? n->size : m;
        return m;
    }

private:
    struct Node {
        Node* next;
        std::uint64_t base;
        std::uint64_t size;
        bool free;
    };
    // Nodes are recycled through a pool, as a slab would, so the walk is what is measured.
    Node* make(std::uint64_t base, std::uint64_t size, bool free, Node* next) {
        Node* n;
        if (!pool_.empty()) {
            n = pool_.back();
            pool_.pop_back();
        } else {
            n = new Node;
        }
        *n = Node{next, base, size, free};
        return n;
    }
    void release(Node* n) { pool_.push_back(n); }

    Node* head_ = nullptr;
    Node* tail_free_ = nullptr;
    std::vector<Node*> pool_;
};

} // namespace baseline
