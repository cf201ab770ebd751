/* A disk that lies, for tests: an LD_PRELOAD library whose pwrite stores the caller's bytes with
 * one bit flipped when the file's name ends in $LYING_DISK_NAME. With LYING_DISK_HOLE=1 it
 * instead leaves pwrite alone and puts a stray 0xff byte in the middle of such a file whenever
 * ftruncate sets its size, inside what should be a hole. Everything else is written as asked. A
 * restore under it authenticates every blob and still leaves a wrong file behind; only reading
 * the written bytes back (restore drills) can notice.
 *
 *   cc -shared -fPIC -o lying_disk.so lying_disk.c -ldl
 *   LD_PRELOAD=./lying_disk.so LYING_DISK_NAME=records.db phivault drill ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);

static int Lies(int fd) {
  const char* name = getenv("LYING_DISK_NAME");
  if (name == NULL || *name == '\0') return 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  size_t len = strlen(name);
  return (size_t)n >= len && strcmp(path + n - len, name) == 0;
}

static int HoleMode(void) {
  const char* hole = getenv("LYING_DISK_HOLE");
  return hole != NULL && strcmp(hole, "1") == 0;
}

static ssize_t Write(pwrite_fn real, int fd, const void* buf, size_t count, off_t offset) {
  if (count == 0 || HoleMode() || !Lies(fd)) return real(fd, buf, count, offset);
  unsigned char* copy = malloc(count);
  if (copy == NULL) return real(fd, buf, count, offset);
  memcpy(copy, buf, count);
  copy[count / 2] ^= 0x01;
  ssize_t written = real(fd, copy, count, offset);
  free(copy);
  return written;
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  static pwrite_fn real;
  if (real == NULL) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
  return Write(real, fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  static pwrite_fn real;
  if (real == NULL) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite64");
  return Write(real, fd, buf, count, offset);
}

typedef int (*ftruncate_fn)(int, off_t);

static int Truncate(ftruncate_fn real, int fd, off_t length) {
  int rc = real(fd, length);
  if (rc == 0 && length > 1 && HoleMode() && Lies(fd)) {
    static pwrite_fn real_pwrite;
    if (real_pwrite == NULL) real_pwrite = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    const unsigned char stray = 0xff;
    if (real_pwrite(fd, &stray, 1, length / 2) != 1) return -1;
  }
  return rc;
}

int ftruncate(int fd, off_t length) {
  static ftruncate_fn real;
  if (real == NULL) real = (ftruncate_fn)dlsym(RTLD_NEXT, "ftruncate");
  return Truncate(real, fd, length);
}

int ftruncate64(int fd, off_t length) {
  static ftruncate_fn real;
  if (real == NULL) real = (ftruncate_fn)dlsym(RTLD_NEXT, "ftruncate64");
  return Truncate(real, fd, length);
}
