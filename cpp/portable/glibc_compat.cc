// Built only with -DCNNNATIVE_PORTABLE_WHEEL=ON (CMakeLists.txt): lets a wheel built on a
// newer glibc (Debian 12: 2.36) run on glibc 2.28, the manylinux_2_28 floor. The objects
// compiled here bind a few functions to symbol versions newer than 2.28; the linker
// redirects those references (-Wl,--wrap=NAME) to the wrappers below, which call the
// oldest version of the same function that glibc still exports.
//   pow, log2     GLIBC_2.29 added faster versions without the old SVID error handling;
//                 GLIBC_2.2.5 computes the same values.
//   pthread_once  moved from libpthread to libc in 2.34; the 2.2.5 version is the same
//                 function.
//   __pthread_key_create  (weak, 2.34) libstdc++ asks whether threads are in use by its
//                 address; the 2.2.5 pthread_key_create is the same function.
//   arc4random    (2.36, no older version) std::random_device's default source, linked in
//                 with libstdc++ (cnnnative does not use it); getrandom (2.25) instead.
//   pthread_create, pthread_join, pthread_detach, pthread_mutex_trylock  moved from
//                 libpthread to libc in 2.34 (the thread team and std::thread start their
//                 own threads); the 2.2.5 versions are the same functions.
//   fstat         (2.33) a real function since 2.33; before, the header's inline called
//                 __fxstat(_STAT_VER, ...) (2.2.5), which is what the wrapper does.
//   __libc_single_threaded (2.32) is read by libstdc++'s headers to skip atomic reference
//                 counts in single-threaded processes; defining it here as 0 ("maybe
//                 threaded") always takes the atomic path, which is always correct.
// The manylinux_2_28 container (cibuildwheel) links against glibc 2.28 and needs none of this.
#include <pthread.h>
#include <sys/stat.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

extern "C" {
double cnnnative_compat_pow(double, double);
double cnnnative_compat_log2(double);
int cnnnative_compat_pthread_once(pthread_once_t*, void (*)());
int cnnnative_compat_pthread_key_create(pthread_key_t*, void (*)(void*));
__asm__(".symver cnnnative_compat_pow,pow@GLIBC_2.2.5");
__asm__(".symver cnnnative_compat_log2,log2@GLIBC_2.2.5");
__asm__(".symver cnnnative_compat_pthread_once,pthread_once@GLIBC_2.2.5");
__asm__(".symver cnnnative_compat_pthread_key_create,pthread_key_create@GLIBC_2.2.5");
int cnnnative_compat_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
int cnnnative_compat_pthread_join(pthread_t, void**);
int cnnnative_compat_pthread_detach(pthread_t);
int cnnnative_compat_pthread_mutex_trylock(pthread_mutex_t*);
int cnnnative_compat_fxstat(int, int, struct stat*);
__asm__(".symver cnnnative_compat_pthread_create,pthread_create@GLIBC_2.2.5");
__asm__(".symver cnnnative_compat_pthread_join,pthread_join@GLIBC_2.2.5");
__asm__(".symver cnnnative_compat_pthread_detach,pthread_detach@GLIBC_2.2.5");
__asm__(".symver cnnnative_compat_pthread_mutex_trylock,pthread_mutex_trylock@GLIBC_2.2.5");
__asm__(".symver cnnnative_compat_fxstat,__fxstat@GLIBC_2.2.5");

__attribute__((visibility("hidden"))) double __wrap_pow(double x, double y) { return cnnnative_compat_pow(x, y); }
__attribute__((visibility("hidden"))) double __wrap_log2(double x) { return cnnnative_compat_log2(x); }
__attribute__((visibility("hidden"))) int __wrap_pthread_once(pthread_once_t* once, void (*init)()) {
  return cnnnative_compat_pthread_once(once, init);
}
__attribute__((visibility("hidden"))) int __wrap___pthread_key_create(pthread_key_t* key, void (*destroy)(void*)) {
  return cnnnative_compat_pthread_key_create(key, destroy);
}
__attribute__((visibility("hidden"))) int __wrap_pthread_create(pthread_t* t, const pthread_attr_t* attr,
                                                                void* (*fn)(void*), void* arg) {
  return cnnnative_compat_pthread_create(t, attr, fn, arg);
}
__attribute__((visibility("hidden"))) int __wrap_pthread_join(pthread_t t, void** ret) {
  return cnnnative_compat_pthread_join(t, ret);
}
__attribute__((visibility("hidden"))) int __wrap_pthread_detach(pthread_t t) { return cnnnative_compat_pthread_detach(t); }
__attribute__((visibility("hidden"))) int __wrap_pthread_mutex_trylock(pthread_mutex_t* m) {
  return cnnnative_compat_pthread_mutex_trylock(m);
}
__attribute__((visibility("hidden"))) int __wrap_fstat(int fd, struct stat* st) {
  return cnnnative_compat_fxstat(1, fd, st);  // _STAT_VER_LINUX on x86_64
}
__attribute__((visibility("hidden"))) unsigned int __wrap_arc4random(void) {
  unsigned int v = 0;
  for (;;) {
    ssize_t n = getrandom(&v, sizeof v, 0);
    if (n == static_cast<ssize_t>(sizeof v)) return v;
    if (n < 0 && errno != EINTR) break;
  }
  if (FILE* f = std::fopen("/dev/urandom", "rb")) {  // kernels before 3.17 lack getrandom
    size_t got = std::fread(&v, sizeof v, 1, f);
    std::fclose(f);
    if (got == 1) return v;
  }
  std::abort();
}
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;
}
