// Prints its arguments, one per line: a parent's command line arrives as argc/argv.
#include "print.hpp"

int main(int argc, char** argv) {
    aos::sys::print("args: argc {}\n", argc);
    for (int i = 0; i < argc; ++i)
        aos::sys::print("args: argv[{}] = {}\n", i, static_cast<const char*>(argv[i]));
    return argc;
}
