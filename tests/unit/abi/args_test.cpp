// aos::abi::fill_args: the arguments page a parent writes for a child.
#include "catch.hpp"

#include <aos/abi/args.hpp>

#include <cstring>
#include <memory>
#include <string>

using aos::abi::ArgsPage;

namespace {

std::string arg(const ArgsPage& p, unsigned i) {
    return std::string(p.text + p.offset[i]);
}

} // namespace

TEST_CASE("a command line splits into words at spaces") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    REQUIRE(aos::abi::fill_args(*page, "  hello  one two   "));
    REQUIRE(page->magic == aos::abi::args_magic);
    REQUIRE(page->argc == 3);
    REQUIRE(arg(*page, 0) == "hello");
    REQUIRE(arg(*page, 1) == "one");
    REQUIRE(arg(*page, 2) == "two");
}

TEST_CASE("an empty line has no arguments") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    REQUIRE(aos::abi::fill_args(*page, "   "));
    REQUIRE(page->argc == 0);
}

TEST_CASE("too many words or too much text is refused, not cut") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    std::string many;
    for (unsigned i = 0; i <= aos::abi::args_max; ++i)
        many += "w ";
    REQUIRE_FALSE(aos::abi::fill_args(*page, many.c_str()));
    std::memset(page.get(), 0, sizeof(ArgsPage));
    std::string long_word(aos::abi::args_text_max, 'x');
    REQUIRE_FALSE(aos::abi::fill_args(*page, long_word.c_str()));
    std::memset(page.get(), 0, sizeof(ArgsPage));
    std::string fits(aos::abi::args_text_max - 1, 'y'); // and its NUL: the whole text
    REQUIRE(aos::abi::fill_args(*page, fits.c_str()));
    REQUIRE(page->argc == 1);
    REQUIRE(page->text_used == aos::abi::args_text_max);
}

TEST_CASE("environment strings follow the arguments") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    REQUIRE(aos::abi::fill_args(*page, "prog a"));
    REQUIRE(aos::abi::add_environment(*page, "PID=0x10001"));
    REQUIRE(aos::abi::add_environment(*page, "CORE=0"));
    REQUIRE(page->envc == 2);
    REQUIRE(std::string(page->text + page->env_offset[0]) == "PID=0x10001");
    REQUIRE(std::string(page->text + page->env_offset[1]) == "CORE=0");
    REQUIRE(arg(*page, 1) == "a"); // the arguments are untouched
    REQUIRE_FALSE(aos::abi::add_environment(*page, "no equals sign"));
    REQUIRE_FALSE(aos::abi::add_environment(*page, "=value"));
    REQUIRE(page->envc == 2);
    for (unsigned i = 2; i < aos::abi::env_max; ++i)
        REQUIRE(aos::abi::add_environment(*page, "K=V"));
    REQUIRE_FALSE(aos::abi::add_environment(*page, "ONE=MORE"));
    REQUIRE(page->envc == aos::abi::env_max);
}

TEST_CASE("the capability record names each capability once, and refuses what does not fit") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    REQUIRE(aos::abi::fill_args(*page, "prog"));
    REQUIRE(aos::abi::add_capability(*page, 0x108, 7, 3, "init"));
    REQUIRE(page->capc == 1);
    REQUIRE(page->caps[0].addr == 0x108);
    REQUIRE(page->caps[0].type == 7);
    REQUIRE(page->caps[0].rights == 3);
    REQUIRE(std::string(page->caps[0].name) == "init");
    REQUIRE_FALSE(aos::abi::add_capability(*page, 0x109, 7, 3, "init")); // a name says one place
    REQUIRE_FALSE(aos::abi::add_capability(*page, 0x109, 7, 3, ""));
    std::string longest(aos::abi::cap_name_max - 1, 'n');
    REQUIRE_FALSE(aos::abi::add_capability(*page, 0x109, 7, 3, (longest + "x").c_str()));
    REQUIRE(page->capc == 1);
    REQUIRE(aos::abi::add_capability(*page, 0x109, 7, 3, longest.c_str()));
    REQUIRE(std::string(page->caps[1].name) == longest);
    REQUIRE(aos::abi::add_capability(*page, 0x10a, 7, 3, "ini")); // a prefix of another name is its own
    REQUIRE(aos::abi::find_capability(*page, "ini") == &page->caps[2]);
    REQUIRE(aos::abi::find_capability(*page, "init") == &page->caps[0]);
    REQUIRE(aos::abi::find_capability(*page, "in") == nullptr);
    for (unsigned i = page->capc; i < aos::abi::cap_records_max; ++i)
        REQUIRE(aos::abi::add_capability(*page, 0x200 + i, 1, 1, ("c" + std::to_string(i)).c_str()));
    REQUIRE_FALSE(aos::abi::add_capability(*page, 0x300, 1, 1, "more"));
    REQUIRE(page->capc == aos::abi::cap_records_max);
    REQUIRE(aos::abi::fill_args(*page, "again"));
    REQUIRE(page->capc == 0); // a page filled anew starts an empty record
}

TEST_CASE("arguments split at tabs as at spaces, as the command line's words do") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    REQUIRE(aos::abi::fill_args(*page, "\thello\tone  two"));
    REQUIRE(page->argc == 3);
    REQUIRE(arg(*page, 0) == "hello");
    REQUIRE(arg(*page, 1) == "one");
    REQUIRE(arg(*page, 2) == "two");
}
