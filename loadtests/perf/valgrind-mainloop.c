// Preloaded into the edge only for `loadtests/perf/run.sh callgrind`.
//
// Swift's async `main` ends in libdispatch's dispatch_main(), which parks the main thread with
// pthread_exit. Valgrind (3.24 as well as Debian's 3.19) crashes at the next thread the process
// creates after that. This dispatch_main keeps the main thread alive and drains the main queue
// itself, as Foundation's run loop does, so the edge runs unchanged under callgrind.
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

extern int _dispatch_get_main_queue_handle_4CF(void);
extern void _dispatch_main_queue_callback_4CF(void *message);

void dispatch_main(void) {
    int wakeups = _dispatch_get_main_queue_handle_4CF();  // an eventfd on Linux
    for (;;) {
        struct pollfd ready = { wakeups, POLLIN, 0 };
        if (poll(&ready, 1, 1000) > 0 && (ready.revents & POLLIN)) {
            uint64_t count;
            (void)!read(wakeups, &count, sizeof count);
        }
        _dispatch_main_queue_callback_4CF(0);
    }
}
