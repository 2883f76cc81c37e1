// tandem's native addon: the few Linux system calls Bun does not expose.
//
// Built by build.ts into src/native/tandem.node and embedded in dist/tandem
// by `bun build --compile`; loaded through src/native/addon.ts only.
//
// Rules for this file:
//   - plain C, N-API only (node_api.h), no other libraries;
//   - every entry point checks its arguments and throws a TypeError or
//     RangeError instead of trusting JS (a bad call must never crash the
//     daemon);
//   - a failed system call throws an Error with the errno text, and
//     `code` (e.g. "EPERM"), `errno` and `syscall` properties, the same
//     shape as Node's own system errors;
//   - nothing here aborts, exits or keeps global state.
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "tandem.h"

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4 // Linux >= 4.4; glibc headers older than 2.27 lack it
#endif
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

// --- errors ---------------------------------------------------------------

// errno names for the calls below (strerrorname_np would need glibc 2.32).
static const char *errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ESRCH: return "ESRCH";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOTCONN: return "ENOTCONN";
    case ENOENT: return "ENOENT";
    case ENOTTY: return "ENOTTY";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EEXIST: return "EEXIST";
    case EBUSY: return "EBUSY";
    case ERANGE: return "ERANGE";
    case ENOBUFS: return "ENOBUFS";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTO: return "EPROTO";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENETDOWN: return "ENETDOWN";
    case ENETUNREACH: return "ENETUNREACH";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EIO: return "EIO";
    case EISDIR: return "EISDIR";
    default: return "EUNKNOWN";
  }
}

// Throws `Error("<syscall>: <strerror> (<CODE>)")` with code/errno/syscall
// properties. Always returns NULL so callers can `return throw_errno(...)`.
napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char msg[160];
  char buf[96];
  const char *text = strerror_r(err, buf, sizeof buf); // GNU variant
  const char *code = errno_name(err);
  snprintf(msg, sizeof msg, "%s: %s (%s)", syscall, text != NULL ? text : "unknown error", code);

  napi_value js_code, js_msg, js_err, js_errno, js_syscall;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg) != napi_ok ||
      napi_create_error(env, js_code, js_msg, &js_err) != napi_ok) {
    napi_throw_error(env, code, msg);
    return NULL;
  }
  if (napi_create_int32(env, -err, &js_errno) == napi_ok) {
    napi_set_named_property(env, js_err, "errno", js_errno);
  }
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &js_syscall) == napi_ok) {
    napi_set_named_property(env, js_err, "syscall", js_syscall);
  }
  napi_throw(env, js_err);
  return NULL;
}

// --- argument helpers -----------------------------------------------------

// Fetches exactly up to `want` arguments; missing ones read as undefined.
bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  napi_value undef;
  if (napi_get_undefined(env, &undef) != napi_ok) return false;
  for (size_t i = argc; i < want; i++) argv[i] = undef;
  return true;
}

// Reads an integer in [min, max]. Throws TypeError for a non-number or
// non-integer, RangeError for an integer out of range.
bool get_int(napi_env env, napi_value v, const char *what, long long min, long long max, long long *out) {
  napi_valuetype t;
  char msg[160];
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t != napi_number) {
    snprintf(msg, sizeof msg, "%s must be an integer", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!isfinite(d)) {
    snprintf(msg, sizeof msg, "%s must be an integer", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  if (d < (double)min || d > (double)max) {
    snprintf(msg, sizeof msg, "%s must be in %lld..%lld", what, min, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  // In range, so the cast is defined; a fraction does not survive it.
  long long n = (long long)d;
  if ((double)n != d) {
    snprintf(msg, sizeof msg, "%s must be an integer", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  *out = n;
  return true;
}

bool set_int(napi_env env, napi_value obj, const char *key, long long value) {
  napi_value v;
  return napi_create_int64(env, value, &v) == napi_ok &&
         napi_set_named_property(env, obj, key, v) == napi_ok;
}

static bool set_double(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  return napi_create_double(env, value, &v) == napi_ok &&
         napi_set_named_property(env, obj, key, v) == napi_ok;
}

bool set_str(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  return napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok &&
         napi_set_named_property(env, obj, key, v) == napi_ok;
}

// --- version() -> string --------------------------------------------------

static napi_value js_version(napi_env env, napi_callback_info info) {
  (void)info;
  static const char text[] = "tandem-native " TANDEM_NATIVE_VERSION " (N-API " STR(NAPI_VERSION)
#if defined(__clang__)
                             ", clang " __clang_version__
#elif defined(__GNUC__)
                             ", gcc " STR(__GNUC__) "." STR(__GNUC_MINOR__) "." STR(__GNUC_PATCHLEVEL__)
#endif
#if defined(__GLIBC__)
                             ", glibc " STR(__GLIBC__) "." STR(__GLIBC_MINOR__)
#endif
#if defined(__x86_64__)
                             ", x86_64"
#elif defined(__aarch64__)
                             ", aarch64"
#endif
                             ")";
  napi_value out;
  NAPI_OK(env, napi_create_string_utf8(env, text, sizeof text - 1, &out));
  return out;
}

// --- peerCred(fd) -> {pid, uid, gid} --------------------------------------

static napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  long long fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_int(env, argv[0], "peerCred: fd", 0, INT_MAX, &fd)) return NULL;

  struct ucred cred;
  socklen_t len = sizeof cred;
  memset(&cred, 0, sizeof cred);
  if (getsockopt((int)fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return throw_errno(env, "getsockopt(SO_PEERCRED)", errno);
  }
  if (len != sizeof cred) return throw_errno(env, "getsockopt(SO_PEERCRED)", EINVAL);

  napi_value out;
  NAPI_OK(env, napi_create_object(env, &out));
  if (!set_int(env, out, "pid", cred.pid) || !set_int(env, out, "uid", cred.uid) ||
      !set_int(env, out, "gid", cred.gid)) {
    return NULL;
  }
  return out;
}

// --- mlockall(flags) / munlockall() ---------------------------------------

static napi_value js_mlockall(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  long long flags;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_int(env, argv[0], "mlockall: flags", 0, INT_MAX, &flags)) return NULL;
  const long long known = MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT;
  if ((flags & ~known) != 0 || (flags & (MCL_CURRENT | MCL_FUTURE)) == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "mlockall: flags must combine MCL_CURRENT/MCL_FUTURE (and MCL_ONFAULT)");
    return NULL;
  }
  // Without MCL_ONFAULT the kernel faults in every mapping at once; Bun's
  // runtime reserves gigabytes of address space, so that would pin (or fail
  // to pin) far more memory than the daemon ever touches.
  if ((flags & MCL_ONFAULT) == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "mlockall: MCL_ONFAULT is required (without it the whole Bun heap "
                           "reservation would be faulted in and pinned)");
    return NULL;
  }
  if (mlockall((int)flags) != 0) return throw_errno(env, "mlockall", errno);
  napi_value out;
  NAPI_OK(env, napi_get_undefined(env, &out));
  return out;
}

static napi_value js_munlockall(napi_env env, napi_callback_info info) {
  (void)info;
  if (munlockall() != 0) return throw_errno(env, "munlockall", errno);
  napi_value out;
  NAPI_OK(env, napi_get_undefined(env, &out));
  return out;
}

// --- dropPages(address, length, relock) -----------------------------------
//
// Unmaps the resident pages of a clean, read-only file mapping (the Bun
// runtime's code and constants) so that only what the process touches from
// now on is mapped again: start-up runs parser, compiler and module code an
// idle daemon never needs, and each page fault maps up to 64 KiB of its
// neighbours (fault-around), so RSS kept ~20 MB of code nobody runs. The
// pages stay in the page cache; touching one again is a minor fault.
// Locked mappings must be unlocked first (MADV_DONTNEED refuses VM_LOCKED);
// relock=true locks the range again on fault (mlock2 MLOCK_ONFAULT), as
// mlockall(MCL_ONFAULT) had. The caller must only pass mappings without
// private (copy-on-write) pages: MADV_DONTNEED would discard those.
static napi_value js_drop_pages(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  long long addr, len;
  bool relock = false;
  if (!get_args(env, info, 3, argv)) return NULL;
  // x86-64/arm64 user space is below 2^47/2^48, exact in a double
  if (!get_int(env, argv[0], "dropPages: address", 1, (1LL << 53) - 1, &addr)) return NULL;
  if (!get_int(env, argv[1], "dropPages: length", 1, (1LL << 53) - 1, &len)) return NULL;
  NAPI_OK(env, napi_get_value_bool(env, argv[2], &relock));
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0 || addr % page != 0 || len % page != 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "dropPages: address and length must be page-aligned");
    return NULL;
  }
  void *p = (void *)(uintptr_t)addr;
  if (munlock(p, (size_t)len) != 0) return throw_errno(env, "munlock", errno);
  int err = madvise(p, (size_t)len, MADV_DONTNEED) != 0 ? errno : 0;
  if (relock && mlock2(p, (size_t)len, MLOCK_ONFAULT) != 0) return throw_errno(env, "mlock2", errno);
  if (err != 0) return throw_errno(env, "madvise(MADV_DONTNEED)", err);
  napi_value out;
  NAPI_OK(env, napi_get_undefined(env, &out));
  return out;
}

// --- memlockInfo() -> {lockedBytes, limitSoft, limitHard} ------------------

static double rlim_to_double(rlim_t v) {
  return v == RLIM_INFINITY ? INFINITY : (double)v;
}

static napi_value js_memlock_info(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rl;
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return throw_errno(env, "getrlimit(RLIMIT_MEMLOCK)", errno);

  // VmLck from /proc/self/status, in kB. -1 when /proc is unavailable.
  double locked = -1;
  FILE *f = fopen("/proc/self/status", "re");
  if (f != NULL) {
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
      unsigned long long kb;
      if (sscanf(line, "VmLck: %llu kB", &kb) == 1) {
        locked = (double)kb * 1024.0;
        break;
      }
    }
    fclose(f);
  }

  napi_value out;
  NAPI_OK(env, napi_create_object(env, &out));
  if (!set_double(env, out, "lockedBytes", locked) ||
      !set_double(env, out, "limitSoft", rlim_to_double(rl.rlim_cur)) ||
      !set_double(env, out, "limitHard", rlim_to_double(rl.rlim_max))) {
    return NULL;
  }
  return out;
}

// --- setScheduler(policy, priority[, tid]) / schedInfo([tid]) ---------------

// An optional thread id of this process (from /proc/self/task); 0 or
// undefined = the calling thread. Other processes' ids are refused.
static bool get_tid(napi_env env, napi_value v, const char *what, pid_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_undefined) {
    *out = 0;
    return true;
  }
  long long tid;
  if (!get_int(env, v, what, 0, 0x3fffffff, &tid)) return false;
  if (tid != 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%lld", tid);
    if (access(path, F_OK) != 0) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "thread id is not a thread of this process");
      return false;
    }
  }
  *out = (pid_t)tid;
  return true;
}

static napi_value js_set_scheduler(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;

  napi_valuetype t;
  NAPI_OK(env, napi_typeof(env, argv[0], &t));
  if (t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setScheduler: policy must be \"rr\" or \"other\"");
    return NULL;
  }
  char name[8];
  size_t name_len = 0;
  NAPI_OK(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len));
  int policy;
  if (name_len != strlen(name)) { // embedded NUL
    policy = -1;
  } else if (strcmp(name, "rr") == 0) {
    policy = SCHED_RR;
  } else if (strcmp(name, "other") == 0) {
    policy = SCHED_OTHER;
  } else {
    policy = -1;
  }
  if (policy < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "setScheduler: policy must be \"rr\" or \"other\"");
    return NULL;
  }

  int lo = sched_get_priority_min(policy);
  int hi = sched_get_priority_max(policy);
  if (lo < 0 || hi < 0) return throw_errno(env, "sched_get_priority_min/max", errno);
  char what[64];
  snprintf(what, sizeof what, "setScheduler: priority for \"%s\"", name);
  long long prio;
  if (!get_int(env, argv[1], what, lo, hi, &prio)) return NULL;
  pid_t tid;
  if (!get_tid(env, argv[2], "setScheduler: thread id", &tid)) return NULL;

  // pid 0 is the calling thread: the JS (main) thread. RESET_ON_FORK keeps
  // children (resource agent scripts) from inheriting real-time priority.
  struct sched_param sp;
  memset(&sp, 0, sizeof sp);
  sp.sched_priority = (int)prio;
  if (sched_setscheduler(tid, policy == SCHED_RR ? policy | SCHED_RESET_ON_FORK : policy, &sp) != 0) {
    return throw_errno(env, "sched_setscheduler", errno);
  }
  napi_value out;
  NAPI_OK(env, napi_get_undefined(env, &out));
  return out;
}

static const char *policy_name(int policy) {
  switch (policy) {
    case SCHED_OTHER: return "other";
    case SCHED_FIFO: return "fifo";
    case SCHED_RR: return "rr";
#ifdef SCHED_BATCH
    case SCHED_BATCH: return "batch";
#endif
#ifdef SCHED_IDLE
    case SCHED_IDLE: return "idle";
#endif
    default: return "unknown";
  }
}

static napi_value js_sched_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  pid_t tid;
  if (!get_tid(env, argv[0], "schedInfo: thread id", &tid)) return NULL;
  int raw = sched_getscheduler(tid);
  if (raw < 0) return throw_errno(env, "sched_getscheduler", errno);
  struct sched_param sp;
  memset(&sp, 0, sizeof sp);
  if (sched_getparam(tid, &sp) != 0) return throw_errno(env, "sched_getparam", errno);

  napi_value out;
  napi_value reset;
  NAPI_OK(env, napi_create_object(env, &out));
  if (!set_str(env, out, "policy", policy_name(raw & ~SCHED_RESET_ON_FORK)) ||
      !set_int(env, out, "priority", sp.sched_priority)) {
    return NULL;
  }
  NAPI_OK(env, napi_get_boolean(env, (raw & SCHED_RESET_ON_FORK) != 0, &reset));
  NAPI_OK(env, napi_set_named_property(env, out, "resetOnFork", reset));
  return out;
}

// --- module ---------------------------------------------------------------

NAPI_MODULE_INIT() {
  napi_property_descriptor fns[] = {
      {"version", NULL, js_version, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerCred", NULL, js_peer_cred, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mlockall", NULL, js_mlockall, NULL, NULL, NULL, napi_enumerable, NULL},
      {"munlockall", NULL, js_munlockall, NULL, NULL, NULL, napi_enumerable, NULL},
      {"memlockInfo", NULL, js_memlock_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dropPages", NULL, js_drop_pages, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setScheduler", NULL, js_set_scheduler, NULL, NULL, NULL, napi_enumerable, NULL},
      {"schedInfo", NULL, js_sched_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addrAdd", NULL, js_addr_add, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addrDel", NULL, js_addr_del, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addrList", NULL, js_addr_list, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendGarp", NULL, js_send_garp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendUnsolicitedNa", NULL, js_send_unsolicited_na, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  if (!register_watchdog(env, exports)) return NULL;
  if (!register_serial(env, exports)) return NULL;
  if (!register_drbd(env, exports)) return NULL;

  napi_value constants;
  if (napi_create_object(env, &constants) != napi_ok) return NULL;
  if (!set_int(env, constants, "MCL_CURRENT", MCL_CURRENT) ||
      !set_int(env, constants, "MCL_FUTURE", MCL_FUTURE) ||
      !set_int(env, constants, "MCL_ONFAULT", MCL_ONFAULT)) {
    return NULL;
  }
  if (napi_object_freeze(env, constants) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "constants", constants) != napi_ok) return NULL;
  return exports;
}
