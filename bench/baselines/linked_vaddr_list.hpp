// Baseline: the classic student virtual address bookkeeping -- a doubly linked list of regions in address
// order, first fit by walking it, and for each lazily backed region a list with one node per touched page.
// O(n) per call in regions (and in pages for a fault). Written for the benchmark, after the common design.
#pragma once

#include <cstdint>
#include <vector>

namespace baseline {

class LinkedVaddrList {
public:
    LinkedVaddrList(std::uint64_t lo, std::uint64_t hi) : lo_(lo), hi_(hi) {}
    ~LinkedVaddrList() {
        for (Region* r = head_; r != nullptr;) {
            Region* next = r->next;
            drop_pages(r);
            delete r;
            r = next;
        }
        for (Page* p : page_pool_)
            delete p;
        for (Region* r : region_pool_)
            delete r;
    }
    LinkedVaddrList(const LinkedVaddrList&) = delete;
    LinkedVaddrList& operator=(const LinkedVaddrList&) = delete;

    bool reserve(std::uint64_t size, std::uint64_t align, std::uint64_t& out) {
        std::uint64_t gap_lo = lo_;
        Region* prev = nullptr;
        for (Region* r = head_;; prev = r, r = r->next) {
            std::uint64_t gap_hi = r != nullptr ? r->base : hi_;
            std::uint64_t start = (gap_lo + align - 1) & ~(align - 1);
            if (start <= gap_hi && gap_hi - start >= size) {
                Region* n = make_region(Region{prev, r, start, size, nullptr});
                (prev != nullptr ? prev->next : head_) = n;
                if (r != nullptr)
                    r->prev = n;
                out = start;
                return true;
            }
            if (r == nullptr)
                return false;
            gap_lo = r->base + r->size;
        }
    }

    // 1: back this page, 0: already backed, -1: unreserved.
    int fault(std::uint64_t addr) const {
        for (Region* r = head_; r != nullptr; r = r->next) {
            if (addr < r->base)
                return -1;
            if (addr >= r->base + r->size)
                continue;
            std::uint64_t page = addr & ~std::uint64_t{4095};
            for (Page* p = r->pages; p != nullptr; p = p->next) {
                if (p->addr == page)
                    return 0;
            }
            return 1;
        }
        return -1;
    }

    // Records a backed page: one node per page.
    bool mark_backed(std::uint64_t page) {
        for (Region* r = head_; r != nullptr; r = r->next) {
            if (page >= r->base && page < r->base + r->size) {
                Page* p = page_pool_.empty() ? new Page : page_pool_.back();
                if (!page_pool_.empty())
                    page_pool_.pop_back();
                *p = Page{r->pages, page};
                r->pages = p;
                return true;
            }
        }
        return false;
    }

    // Setup only: appends a region after the last one, which is where first fit puts it while nothing has
    // been released and the alignment is a page.
    bool append(std::uint64_t size, std::uint64_t& out) {
        std::uint64_t start = tail_ != nullptr ? tail_->base + tail_->size : lo_;
        if (hi_ - start < size)
            return false;
        Region* n = make_region(Region{tail_, nullptr, start, size, nullptr});
        (tail_ != nullptr ? tail_->next : head_) = n;
        tail_ = n;
        out = start;
        return true;
    }

    bool release(std::uint64_t base) {
        for (Region* r = head_; r != nullptr; r = r->next) {
            if (r->base != base)
                continue;
            (r->prev != nullptr ? r->prev->next : head_) = r->next;
            if (r->next != nullptr)
                r->next->prev = r->prev;
            drop_pages(r);
            region_pool_.push_back(r);
            return true;
        }
        return false;
    }

private:
    struct Page {
        Page* next;
        std::uint64_t addr;
    };
    struct Region {
        Region* prev;
        Region* next;
        std::uint64_t base;
        std::uint64_t size;
        Page* pages;
    };
    Region* make_region(const Region& v) {
        Region* r = region_pool_.empty() ? new Region : region_pool_.back();
        if (!region_pool_.empty())
            region_pool_.pop_back();
        *r = v;
        return r;
    }
    void drop_pages(Region* r) {
        for (Page* p = r->pages; p != nullptr;) {
            Page* next = p->next;
            page_pool_.push_back(p);
            p = next;
        }
        r->pages = nullptr;
    }

    std::uint64_t lo_;
    std::uint64_t hi_;
    Region* head_ = nullptr;
    Region* tail_ = nullptr; // valid during setup (append) only
    std::vector<Page*> page_pool_;
    std::vector<Region*> region_pool_;
};

} // namespace baseline
