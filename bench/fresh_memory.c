// How fast this machine hands out memory that no process has touched lately: maps N MiB of
// anonymous memory, writes one byte per page, unmaps it, and repeats ROUNDS times, printing the
// rate of each round. On bare metal the rate is that of zeroing pages (several GiB/s); in a VM
// whose free pages go back to the host (virtio-balloon free page reporting), every page first
// costs the host a fault, and the rate falls and swings. See doc/benchmarks.md, "Fresh memory".
//
//   cc -O2 -o fresh_memory bench/fresh_memory.c && ./fresh_memory [MiB=2048] [ROUNDS=3] [PAUSE_S=0]
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 2048;
  const int rounds = argc > 2 ? atoi(argv[2]) : 3;
  const unsigned pause_s = argc > 3 ? (unsigned)atoi(argv[3]) : 0;
  const size_t bytes = mib << 20;
  const long page = sysconf(_SC_PAGESIZE);
  for (int r = 1; r <= rounds; ++r) {
    volatile char* p =
        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap");
      return 1;
    }
    const double start = Now();
    for (size_t i = 0; i < bytes; i += (size_t)page) p[i] = 1;
    const double seconds = Now() - start;
    printf("round %d: %zu MiB in %.3f s, %.2f GiB/s\n", r, mib, seconds,
           (double)mib / 1024 / seconds);
    munmap((void*)p, bytes);
    if (pause_s > 0 && r < rounds) sleep(pause_s);
  }
  return 0;
}
