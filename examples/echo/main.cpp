// Reads a line from the console through init's getchar service (each call waits until a key comes) and
// prints it back.
#include "print.hpp"
#include "rpc_client.hpp"

int main() {
    aos::sys::print("echo: type a line\n");
    char line[128];
    std::size_t n = 0;
    for (;;) {
        aos::Result<char> c = aos::rpc::getchar();
        if (!c) {
            aos::sys::print("echo: getchar failed: {}\n", c.error());
            return 1;
        }
        if (*c == '\r' || *c == '\n' || n + 1 == sizeof(line))
            break;
        line[n++] = *c;
    }
    line[n] = '\0';
    aos::sys::print("echo: \"{}\" ({} characters)\n", static_cast<const char*>(line), n);
    return 0;
}
