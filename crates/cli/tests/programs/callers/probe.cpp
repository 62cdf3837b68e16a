// C++ caller attribution: a method and a destructor make the calls.
#include <cstdlib>
#include <sys/socket.h>
#include <unistd.h>

namespace net {
class Probe {
  public:
    __attribute__((noinline)) void run() {
        fd_ = socket(AF_INET, SOCK_STREAM, 0); // MARK:run
        if (fd_ < 0) std::abort();
    }
    __attribute__((noinline)) ~Probe() {
        if (close(fd_) != 0) std::abort(); // MARK:dtor
    }

  private:
    int fd_ = -1;
};
} // namespace net

int main() {
    net::Probe p;
    p.run();
    return 0;
}
