// The arguments page a parent maps into a child it spawns: argc and argv (the command line split into
// words), the environment (KEY=VALUE strings) and a record of the capabilities it was given (where each
// is in its CSpace, its type and what it is for). Its address arrives in x0 at entry, where init gets
// bootinfo instead; the runtime tells them apart by the magic, calls main(argc, argv) and answers getenv.
//
//   int main(int argc, char** argv) { for (int i = 0; i < argc; ++i) aos::sys::print("{}\n", argv[i]); }
#pragma once

#include <aos/abi/bootinfo.hpp>
#include <aos/core/string_ref.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::abi {

inline constexpr std::uint64_t args_magic = 0x5347524153534f41; // "AOSSARGS" little endian
inline constexpr std::uint32_t args_version = 3;
inline constexpr std::uint32_t args_max = 32;
inline constexpr std::uint32_t env_max = 16;
inline constexpr std::uint32_t cap_records_max = 18;
inline constexpr std::size_t cap_name_max = 14; // with its NUL
inline constexpr std::size_t args_text_max = 3440;
// Where the page appears in the child: the address init's bootinfo has (a process gets one or the other).
inline constexpr std::uint64_t args_user_address = bootinfo_user_address;

// One capability the parent put in the child's CSpace.
struct CapRecord {
    std::uint64_t addr;      // where: its capability address in the child's CSpace (abi::caddr)
    std::uint8_t type;       // abi::ObjType
    std::uint8_t rights;     // abi::right_* bits
    char name[cap_name_max]; // what it is for: "dispatcher", "cspace", "vspace", "ram", "args", "init", ...
};
static_assert(sizeof(CapRecord) == 24);

struct ArgsPage {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t argc;
    std::uint32_t envc;
    std::uint32_t text_used;
    std::uint32_t offset[args_max];    // of each argument in text, NUL-terminated
    std::uint32_t env_offset[env_max]; // of each KEY=VALUE string in text
    std::uint32_t capc;
    std::uint32_t reserved;
    CapRecord caps[cap_records_max];
    char text[args_text_max];
};

static_assert(offsetof(ArgsPage, offset) == 24);
static_assert(offsetof(ArgsPage, env_offset) == 24 + 4 * args_max);
static_assert(offsetof(ArgsPage, capc) == 24 + 4 * args_max + 4 * env_max);
static_assert(offsetof(ArgsPage, caps) == offsetof(ArgsPage, capc) + 8);
static_assert(offsetof(ArgsPage, text) == offsetof(ArgsPage, caps) + sizeof(CapRecord) * cap_records_max);
static_assert(sizeof(ArgsPage) == 4096, "one page, all of it used");

// Splits `line` into words (core::for_each_word, as boot::CommandLine does) into `page` (zeroed by the
// caller). Words past args_max or text past args_text_max make it fail (false) rather than cut a command
// line silently.
constexpr bool fill_args(ArgsPage& page, const char* line) {
    page.magic = args_magic;
    page.version = args_version;
    page.argc = 0;
    page.envc = 0;
    page.capc = 0;
    std::size_t at = 0;
    bool fits = true;
    core::for_each_word(line, [&](core::StringRef word) {
        if (page.argc == args_max || at + word.size + 1 > args_text_max) {
            fits = false;
            return false;
        }
        page.offset[page.argc++] = static_cast<std::uint32_t>(at);
        for (std::size_t i = 0; i < word.size; ++i)
            page.text[at++] = word.data[i];
        page.text[at++] = '\0';
        return true;
    });
    page.text_used = static_cast<std::uint32_t>(at);
    return fits;
}

// Appends one KEY=VALUE string to the environment of a page fill_args made. False (nothing changed) when it
// has no '=', or there is no room.
constexpr bool add_environment(ArgsPage& page, const char* entry) {
    std::size_t n = 0;
    bool has_equals = false;
    for (; entry[n] != '\0'; ++n)
        has_equals = has_equals || entry[n] == '=';
    if (!has_equals || entry[0] == '=' || page.envc == env_max || page.text_used + n + 1 > args_text_max)
        return false;
    page.env_offset[page.envc++] = page.text_used;
    for (std::size_t i = 0; i <= n; ++i)
        page.text[page.text_used + i] = entry[i];
    page.text_used += static_cast<std::uint32_t>(n + 1);
    return true;
}

// The record of the capability named `name`, or null (a page written by another process is read with
// every bound checked).
constexpr const CapRecord* find_capability(const ArgsPage& page, const char* name) {
    for (std::uint32_t i = 0; i < page.capc && i < cap_records_max; ++i) {
        const CapRecord& r = page.caps[i];
        std::size_t k = 0;
        while (k < cap_name_max && name[k] != '\0' && r.name[k] == name[k])
            ++k;
        if (k < cap_name_max && name[k] == '\0' && r.name[k] == '\0')
            return &r;
    }
    return nullptr;
}

// Records a capability of the child's CSpace under `name`. False (nothing changed) when the record is full,
// the name is empty or too long, or already used.
constexpr bool add_capability(ArgsPage& page, std::uint64_t addr, std::uint8_t type, std::uint8_t rights,
                              const char* name) {
    std::size_t n = 0;
    while (name[n] != '\0')
        ++n;
    if (n == 0 || n >= cap_name_max || page.capc >= cap_records_max || find_capability(page, name) != nullptr)
        return false;
    CapRecord& r = page.caps[page.capc++];
    r.addr = addr;
    r.type = type;
    r.rights = rights;
    for (std::size_t i = 0; i < cap_name_max; ++i)
        r.name[i] = i < n ? name[i] : '\0';
    return true;
}

} // namespace aos::abi
