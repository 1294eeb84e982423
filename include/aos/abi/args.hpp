// The arguments page a parent maps into a child it spawns: argc and argv (the command line split into
// words). Its address arrives in x0 at entry, where init gets bootinfo instead; the runtime tells them
// apart by the magic and calls main(argc, argv).
//
//   int main(int argc, char** argv) { for (int i = 0; i < argc; ++i) aos::sys::print("{}\n", argv[i]); }
#pragma once

#include <cstddef>
#include <cstdint>

namespace aos::abi {

inline constexpr std::uint64_t args_magic = 0x5347524153534f41; // "AOSSARGS" little endian
inline constexpr std::uint32_t args_version = 1;
inline constexpr std::uint32_t args_max = 32;
inline constexpr std::size_t args_text_max = 3072;
// Where the page appears in the child: the address init's bootinfo has (a process gets one or the other).
inline constexpr std::uint64_t args_user_address = 0x200000;

struct ArgsPage {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t argc;
    std::uint32_t offset[args_max]; // of each argument in text, NUL-terminated
    char text[args_text_max];
};

static_assert(offsetof(ArgsPage, offset) == 16);
static_assert(offsetof(ArgsPage, text) == 16 + 4 * args_max);
static_assert(sizeof(ArgsPage) <= 4096, "one page");

// Splits `line` at spaces into `page` (zeroed by the caller). Words past args_max or text past
// args_text_max make it fail (false) rather than cut a command line silently.
constexpr bool fill_args(ArgsPage& page, const char* line) {
    page.magic = args_magic;
    page.version = args_version;
    page.argc = 0;
    std::size_t at = 0;
    const char* p = line;
    for (;;) {
        while (*p == ' ')
            ++p;
        if (*p == '\0')
            return true;
        if (page.argc == args_max)
            return false;
        page.offset[page.argc++] = static_cast<std::uint32_t>(at);
        for (; *p != '\0' && *p != ' '; ++p) {
            if (at + 1 >= args_text_max)
                return false;
            page.text[at++] = *p;
        }
        page.text[at++] = '\0';
    }
}

} // namespace aos::abi
