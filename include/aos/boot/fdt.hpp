// A validating reader for flattened device trees (the DTB that firmware or QEMU hands the kernel). The whole
// blob is checked once in `Fdt::parse`; after that every accessor stays inside it. Nothing is copied.
//
//   auto fdt = aos::boot::Fdt::parse(dtb, max_size);           // Result<Fdt>
//   if (!fdt) panic(aos::to_string(fdt.error()));
//   fdt->for_each_node([&](aos::boot::FdtNode n, aos::boot::FdtNode parent, unsigned depth) {
//       if (fdt->is_device_type(n, "memory"))
//           fdt->for_each_reg(n, parent, [&](std::uint64_t base, std::uint64_t size) { add_ram(base, size);
//           });
//       return true;   // keep walking
//   });
#pragma once

#include <aos/core/result.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::boot {

namespace fdt_format {
// Devicetree Specification v0.4, chapter 5.
inline constexpr std::uint32_t magic = 0xd00dfeed;
inline constexpr std::uint32_t header_size = 40;
inline constexpr std::uint32_t version_supported = 17;
inline constexpr std::uint32_t token_begin_node = 1;
inline constexpr std::uint32_t token_end_node = 2;
inline constexpr std::uint32_t token_prop = 3;
inline constexpr std::uint32_t token_nop = 4;
inline constexpr std::uint32_t token_end = 9;
inline constexpr std::uint32_t token_size = 4;
inline constexpr std::uint32_t default_address_cells = 2;
inline constexpr std::uint32_t default_size_cells = 1;
// Deepest nesting accepted; real trees are well under 16 levels.
inline constexpr unsigned max_depth = 32;
// Byte offsets of the header fields.
inline constexpr std::uint32_t off_magic = 0, off_totalsize = 4, off_struct = 8, off_strings = 12,
                               off_mem_rsvmap = 16, off_version = 20, off_last_comp_version = 24,
                               off_boot_cpuid = 28, off_size_strings = 32, off_size_struct = 36;
} // namespace fdt_format

// A node: the offset of its FDT_BEGIN_NODE token inside the structure block.
struct FdtNode {
    std::uint32_t offset = 0;
    bool operator==(const FdtNode&) const = default;
};

struct FdtProperty {
    const char* name = nullptr;
    const std::uint8_t* data = nullptr;
    std::uint32_t size = 0;
};

class Fdt {
public:
    // Validates header, memory reservation block, structure and strings; `failed_field`, when given,
    // receives a short name of what was wrong.
    static Result<Fdt> parse(const void* blob, std::size_t available, const char** failed_field = nullptr) {
        Fdt f(static_cast<const std::uint8_t*>(blob));
        const char* where = nullptr;
        Result<void> r = f.validate(available, where);
        if (!r) {
            if (failed_field != nullptr)
                *failed_field = where;
            return error(r.error());
        }
        return f;
    }

    // Reads the total size from a header before the caller knows how much to map (0 when not a DTB).
    static std::uint32_t peek_total_size(const void* blob) {
        const auto* b = static_cast<const std::uint8_t*>(blob);
        return be32(b + fdt_format::off_magic) == fdt_format::magic ? be32(b + fdt_format::off_totalsize) : 0;
    }

    std::uint32_t total_size() const { return header(fdt_format::off_totalsize); }
    std::uint32_t boot_cpu_id() const { return header(fdt_format::off_boot_cpuid); }
    const std::uint8_t* data() const { return blob_; }

    FdtNode root() const { return FdtNode{0}; }

    // The node's name with its unit address ("memory@40000000"); the root's name is "".
    const char* name(FdtNode n) const { return reinterpret_cast<const char*>(struct_at(n.offset + 4)); }

    template <class F> // bool f(FdtProperty): return false to stop
    void for_each_property(FdtNode n, F&& f) const {
        std::uint32_t off = after_name(n.offset);
        for (;;) {
            std::uint32_t tok = be32(struct_at(off));
            if (tok == fdt_format::token_nop) {
                off += fdt_format::token_size;
            } else if (tok == fdt_format::token_prop) {
                FdtProperty p = property_at(off);
                if (!f(p))
                    return;
                off = align4(off + 12 + p.size);
            } else {
                return;
            }
        }
    }

    Result<FdtProperty> property(FdtNode n, const char* prop_name) const {
        FdtProperty found{};
        bool hit = false;
        for_each_property(n, [&](FdtProperty p) {
            if (str_eq(p.name, prop_name)) {
                found = p;
                hit = true;
                return false;
            }
            return true;
        });
        if (!hit)
            return error(Errc::not_found);
        return found;
    }

    // Depth-first walk: f(node, parent, depth) returns false to stop. The root has parent == root, depth 0.
    template <class F>
    void for_each_node(F&& f) const {
        FdtNode stack[fdt_format::max_depth + 1];
        unsigned depth = 0;
        std::uint32_t off = 0;
        for (;;) {
            std::uint32_t tok = be32(struct_at(off));
            if (tok == fdt_format::token_begin_node) {
                FdtNode n{off};
                FdtNode parent = depth == 0 ? n : stack[depth - 1];
                if (!f(n, parent, depth))
                    return;
                stack[depth++] = n;
                off = after_name(off);
            } else if (tok == fdt_format::token_prop) {
                off = align4(off + 12 + be32(struct_at(off + 4)));
            } else if (tok == fdt_format::token_end_node) {
                --depth;
                off += fdt_format::token_size;
                if (depth == 0)
                    return;
            } else if (tok == fdt_format::token_nop) {
                off += fdt_format::token_size;
            } else {
                return;
            }
        }
    }

    // Children of n, in order: f(child) returns false to stop.
    template <class F>
    void for_each_child(FdtNode n, F&& f) const {
        unsigned base_depth = 0;
        bool inside = false;
        bool stop = false;
        for_each_node([&](FdtNode node, FdtNode parent, unsigned depth) {
            if (stop)
                return false;
            if (!inside) {
                if (node == n) {
                    inside = true;
                    base_depth = depth;
                }
                return true;
            }
            if (depth <= base_depth)
                return false; // left n's subtree
            if (depth == base_depth + 1 && parent == n && !f(node))
                stop = true;
            return !stop;
        });
    }

    // Looks a node up by absolute path; a component without '@' matches a name with any unit address.
    Result<FdtNode> find_path(const char* path) const {
        if (path == nullptr || path[0] != '/')
            return error(Errc::invalid_argument);
        FdtNode cur = root();
        const char* p = path + 1;
        while (*p != '\0') {
            const char* end = p;
            while (*end != '\0' && *end != '/')
                ++end;
            if (end != p) {
                bool found = false;
                FdtNode next{};
                for_each_child(cur, [&](FdtNode c) {
                    if (component_matches(name(c), p, end)) {
                        next = c;
                        found = true;
                        return false;
                    }
                    return true;
                });
                if (!found)
                    return error(Errc::not_found);
                cur = next;
            }
            p = *end == '/' ? end + 1 : end;
        }
        return cur;
    }

    // The parent of n (the root is its own parent).
    FdtNode parent_of(FdtNode n) const {
        FdtNode result = root();
        for_each_node([&](FdtNode node, FdtNode parent, unsigned) {
            if (node == n) {
                result = parent;
                return false;
            }
            return true;
        });
        return result;
    }

    // A string property's value, checked to be NUL-terminated within the property.
    Result<const char*> string(FdtNode n, const char* prop_name) const {
        FdtProperty p = AOS_TRY(property(n, prop_name));
        if (p.size == 0 || p.data[p.size - 1] != 0)
            return error(Errc::malformed);
        return reinterpret_cast<const char*>(p.data);
    }

    Result<std::uint32_t> u32(FdtNode n, const char* prop_name) const {
        FdtProperty p = AOS_TRY(property(n, prop_name));
        if (p.size != 4)
            return error(Errc::malformed);
        return be32(p.data);
    }

    // Whether a string-list property (compatible) contains s.
    bool has_string(FdtNode n, const char* prop_name, const char* s) const {
        Result<FdtProperty> p = property(n, prop_name);
        if (!p)
            return false;
        std::uint32_t i = 0;
        while (i < p->size) {
            const char* item = reinterpret_cast<const char*>(p->data + i);
            std::uint32_t len = 0;
            while (i + len < p->size && p->data[i + len] != 0)
                ++len;
            if (i + len == p->size)
                return false; // unterminated last item
            if (str_eq(item, s))
                return true;
            i += len + 1;
        }
        return false;
    }
    bool is_compatible(FdtNode n, const char* compatible) const {
        return has_string(n, "compatible", compatible);
    }
    bool is_device_type(FdtNode n, const char* type) const { return has_string(n, "device_type", type); }

    // First node (in tree order) that is compatible with the given string.
    Result<FdtNode> find_compatible(const char* compatible) const {
        Result<FdtNode> found = error(Errc::not_found);
        for_each_node([&](FdtNode n, FdtNode, unsigned) {
            if (is_compatible(n, compatible)) {
                found = n;
                return false;
            }
            return true;
        });
        return found;
    }

    // Decodes the "reg" property of n with the cell counts of its parent: f(address, size) per entry.
    // Fails without calling f when the property is malformed or a cell count is not 1 or 2.
    template <class F>
    Result<void> for_each_reg(FdtNode n, FdtNode parent, F&& f) const {
        std::uint32_t ac = u32(parent, "#address-cells").value_or(fdt_format::default_address_cells);
        std::uint32_t sc = u32(parent, "#size-cells").value_or(fdt_format::default_size_cells);
        if (ac < 1 || ac > 2 || sc > 2)
            return error(Errc::unsupported);
        FdtProperty p = AOS_TRY(property(n, "reg"));
        std::uint32_t entry = 4 * (ac + sc);
        if (p.size % entry != 0)
            return error(Errc::malformed);
        for (std::uint32_t i = 0; i < p.size; i += entry) {
            std::uint64_t addr = cells(p.data + i, ac);
            std::uint64_t size = sc == 0 ? 0 : cells(p.data + i + std::size_t{4} * ac, sc);
            f(addr, size);
        }
        return ok();
    }

    // Memory reservation block entries: f(address, size).
    template <class F>
    void for_each_reserved(F&& f) const {
        const std::uint8_t* e = blob_ + header(fdt_format::off_mem_rsvmap);
        for (;; e += 16) {
            std::uint64_t addr = be64(e);
            std::uint64_t size = be64(e + 8);
            if (addr == 0 && size == 0)
                return;
            f(addr, size);
        }
    }

    static std::uint32_t be32(const std::uint8_t* p) {
        return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
               std::uint32_t{p[3]};
    }
    static std::uint64_t be64(const std::uint8_t* p) { return (std::uint64_t{be32(p)} << 32) | be32(p + 4); }

private:
    explicit Fdt(const std::uint8_t* blob) : blob_(blob) {}

    std::uint32_t header(std::uint32_t off) const { return be32(blob_ + off); }
    const std::uint8_t* struct_at(std::uint32_t off) const {
        return blob_ + header(fdt_format::off_struct) + off;
    }
    static std::uint32_t align4(std::uint32_t v) { return (v + 3u) & ~3u; }
    static std::uint64_t cells(const std::uint8_t* p, std::uint32_t n) { return n == 1 ? be32(p) : be64(p); }
    static bool str_eq(const char* a, const char* b) {
        while (*a != '\0' && *a == *b) {
            ++a;
            ++b;
        }
        return *a == *b;
    }
    static bool component_matches(const char* node_name, const char* begin, const char* end) {
        bool wants_unit = false;
        for (const char* q = begin; q != end; ++q)
            wants_unit = wants_unit || *q == '@';
        const char* n = node_name;
        for (const char* q = begin; q != end; ++q, ++n) {
            if (*n != *q)
                return false;
        }
        return *n == '\0' || (!wants_unit && *n == '@');
    }
    std::uint32_t after_name(std::uint32_t begin_off) const {
        const std::uint8_t* s = struct_at(begin_off + 4);
        std::uint32_t len = 0;
        while (s[len] != 0)
            ++len;
        return align4(begin_off + 4 + len + 1);
    }
    FdtProperty property_at(std::uint32_t off) const {
        FdtProperty p;
        p.size = be32(struct_at(off + 4));
        std::uint32_t name_off = be32(struct_at(off + 8));
        p.name = reinterpret_cast<const char*>(blob_ + header(fdt_format::off_strings) + name_off);
        p.data = struct_at(off + 12);
        return p;
    }

    // The single validation pass every accessor relies on.
    Result<void> validate(std::size_t available, const char*& where) const {
        using namespace fdt_format;
        auto fail = [&](const char* field, Errc e) {
            where = field;
            return Result<void>(error(e));
        };
        if (blob_ == nullptr)
            return fail("blob", Errc::invalid_argument);
        if (available < header_size)
            return fail("header", Errc::truncated);
        if (header(off_magic) != magic)
            return fail("magic", Errc::bad_magic);
        std::uint32_t total = header(off_totalsize);
        if (total < header_size)
            return fail("totalsize", Errc::malformed);
        if (total > available)
            return fail("totalsize", Errc::truncated);
        if (header(off_last_comp_version) > version_supported || header(off_version) < version_supported)
            return fail("version", Errc::bad_version);
        std::uint64_t s_off = header(off_struct), s_size = header(off_size_struct);
        std::uint64_t t_off = header(off_strings), t_size = header(off_size_strings);
        std::uint64_t r_off = header(off_mem_rsvmap);
        if (s_off % 4 != 0 || s_size % 4 != 0)
            return fail("off_dt_struct", Errc::misaligned);
        if (s_off < header_size || s_off + s_size > total)
            return fail("off_dt_struct", Errc::out_of_range);
        if (t_off < header_size || t_off + t_size > total)
            return fail("off_dt_strings", Errc::out_of_range);
        if (r_off % 8 != 0)
            return fail("off_mem_rsvmap", Errc::misaligned);
        for (std::uint64_t e = r_off;; e += 16) {
            if (e < header_size || e + 16 > total)
                return fail("mem_rsvmap", Errc::truncated);
            if (be64(blob_ + e) == 0 && be64(blob_ + e + 8) == 0)
                break;
        }
        const std::uint8_t* sb = blob_ + s_off;
        const std::uint8_t* strings = blob_ + t_off;
        std::uint64_t off = 0;
        unsigned depth = 0;
        bool root_done = false;
        for (;;) {
            if (off + token_size > s_size)
                return fail("struct: missing FDT_END", Errc::truncated);
            std::uint32_t tok = be32(sb + off);
            if (off == 0 && tok != token_begin_node)
                return fail("struct: does not start with the root node", Errc::malformed);
            off += token_size;
            if (tok == token_begin_node) {
                if (root_done)
                    return fail("struct: node after the root", Errc::malformed);
                if (++depth > max_depth)
                    return fail("struct: nesting", Errc::unsupported);
                std::uint64_t len = 0;
                while (off + len < s_size && sb[off + len] != 0)
                    ++len;
                if (off + len >= s_size)
                    return fail("struct: node name", Errc::truncated);
                if (depth == 1 && len != 0)
                    return fail("struct: root name", Errc::malformed);
                off = (off + len + 1 + 3) & ~std::uint64_t{3};
            } else if (tok == token_prop) {
                if (depth == 0)
                    return fail("struct: property outside a node", Errc::malformed);
                if (off + 8 > s_size)
                    return fail("struct: property header", Errc::truncated);
                std::uint64_t len = be32(sb + off);
                std::uint64_t name_off = be32(sb + off + 4);
                off += 8;
                if (off + len > s_size)
                    return fail("struct: property value", Errc::truncated);
                if (name_off >= t_size)
                    return fail("struct: property name offset", Errc::out_of_range);
                std::uint64_t n = name_off;
                while (n < t_size && strings[n] != 0)
                    ++n;
                if (n >= t_size)
                    return fail("strings: unterminated name", Errc::truncated);
                off = (off + len + 3) & ~std::uint64_t{3};
            } else if (tok == token_end_node) {
                if (depth == 0)
                    return fail("struct: unbalanced FDT_END_NODE", Errc::malformed);
                if (--depth == 0)
                    root_done = true;
            } else if (tok == token_nop) {
                continue;
            } else if (tok == token_end) {
                if (depth != 0 || !root_done)
                    return fail("struct: FDT_END inside a node", Errc::malformed);
                return ok();
            } else {
                return fail("struct: unknown token", Errc::malformed);
            }
        }
    }

    const std::uint8_t* blob_;
};

} // namespace aos::boot
