// Watchdog device (/dev/watchdog, linux/watchdog.h) and sd_notify datagrams.
//
// The watchdog fd is a plain integer handed to JS: the daemon owns it for
// its whole life, and closing it is an explicit choice between the magic
// close (write 'V' first: the driver disarms) and a plain close (the driver
// keeps counting, so the node resets unless someone reopens and feeds it).
// If the process dies, the kernel closes the fd without the 'V': a crashed
// daemon resets the node, which is the point.
//
// sd_notify needs a Unix *datagram* socket; Bun's node:dgram and
// Bun.udpSocket only speak UDP, so the one sendto() lives here.
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/watchdog.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tandem.h"

// Longest path or message accepted from JS (sd_notify messages are short;
// systemd itself rejects datagrams over a few KiB of state).
#define PATH_BYTES_MAX 4096
#define NOTIFY_BYTES_MAX 4096

// Reads a string argument into buf (NUL-terminated, no embedded NUL).
static bool get_str(napi_env env, napi_value v, const char *what, char *buf, size_t cap, size_t *len_out) {
  napi_valuetype t;
  char msg[160];
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t != napi_string) {
    snprintf(msg, sizeof msg, "%s must be a string", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  size_t need = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &need) != napi_ok) return false;
  if (need == 0 || need >= cap) {
    snprintf(msg, sizeof msg, "%s must be 1..%zu bytes", what, cap - 1);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) return false;
  if (strlen(buf) != len) {
    snprintf(msg, sizeof msg, "%s must not contain NUL bytes", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return false;
  }
  *len_out = len;
  return true;
}

static napi_value undefined(napi_env env) {
  napi_value out;
  NAPI_OK(env, napi_get_undefined(env, &out));
  return out;
}

// --- watchdogOpen(path) -> {fd, identity, options, timeout_s} ----------------

// Opening a watchdog device arms it. A regular file or a FIFO is refused
// before anything is written: O_NONBLOCK keeps open() of a FIFO without a
// reader from hanging (ENXIO instead), and fstat() rejects everything that
// is not a character device. A character device that does not answer
// WDIOC_GETSUPPORT (e.g. /dev/null: ENOTTY) is refused too, so a typo in
// ha.cf cannot leave the node "protected" by a device that never fires.
static napi_value js_watchdog_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[PATH_BYTES_MAX];
  size_t path_len;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_str(env, argv[0], "watchdogOpen: path", path, sizeof path, &path_len)) return NULL;

  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return throw_errno(env, "open", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "fstat", err);
  }
  if (!S_ISCHR(st.st_mode)) {
    close(fd);
    return throw_errno(env, "watchdogOpen: not a character device", ENODEV);
  }
  struct watchdog_info wi;
  memset(&wi, 0, sizeof wi);
  if (ioctl(fd, WDIOC_GETSUPPORT, &wi) != 0) {
    int err = errno;
    // Not a watchdog, so nothing was armed: a plain close is right.
    close(fd);
    return throw_errno(env, "ioctl(WDIOC_GETSUPPORT): not a watchdog device", err);
  }
  // Back to blocking writes: drivers treat the fd like any other.
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  int timeout_s = -1;
  if (ioctl(fd, WDIOC_GETTIMEOUT, &timeout_s) != 0) timeout_s = -1; // some drivers cannot say

  char identity[sizeof wi.identity + 1];
  memcpy(identity, wi.identity, sizeof wi.identity);
  identity[sizeof wi.identity] = '\0';

  napi_value out;
  if (napi_create_object(env, &out) != napi_ok || !set_int(env, out, "fd", fd) ||
      !set_str(env, out, "identity", identity) || !set_int(env, out, "options", wi.options) ||
      !set_int(env, out, "timeout_s", timeout_s)) {
    // The device is armed; leave it disarmed rather than leak an armed fd.
    if (write(fd, "V", 1) < 0) { /* nothing more to do */ }
    close(fd);
    return NULL;
  }
  return out;
}

// --- watchdogSetTimeout(fd, s) -> s actually set / watchdogGetTimeout(fd) --

static napi_value js_watchdog_set_timeout(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  long long fd, s;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_int(env, argv[0], "watchdogSetTimeout: fd", 0, INT_MAX, &fd)) return NULL;
  if (!get_int(env, argv[1], "watchdogSetTimeout: seconds", 1, 65535, &s)) return NULL;
  int v = (int)s;
  // The driver may round to what the hardware can do; it writes that back.
  if (ioctl((int)fd, WDIOC_SETTIMEOUT, &v) != 0) return throw_errno(env, "ioctl(WDIOC_SETTIMEOUT)", errno);
  napi_value out;
  NAPI_OK(env, napi_create_int32(env, v, &out));
  return out;
}

static napi_value js_watchdog_get_timeout(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  long long fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_int(env, argv[0], "watchdogGetTimeout: fd", 0, INT_MAX, &fd)) return NULL;
  int v = 0;
  if (ioctl((int)fd, WDIOC_GETTIMEOUT, &v) != 0) return throw_errno(env, "ioctl(WDIOC_GETTIMEOUT)", errno);
  napi_value out;
  NAPI_OK(env, napi_create_int32(env, v, &out));
  return out;
}

// --- watchdogKeepalive(fd) ---------------------------------------------------

static napi_value js_watchdog_keepalive(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  long long fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_int(env, argv[0], "watchdogKeepalive: fd", 0, INT_MAX, &fd)) return NULL;
  int dummy = 0;
  if (ioctl((int)fd, WDIOC_KEEPALIVE, &dummy) == 0) return undefined(env);
  // Every driver accepts a write as a keepalive; a few lack the ioctl.
  int err = errno;
  if (err != ENOTTY && err != EINVAL && err != EOPNOTSUPP) return throw_errno(env, "ioctl(WDIOC_KEEPALIVE)", err);
  if (write((int)fd, "\0", 1) != 1) return throw_errno(env, "write(watchdog keepalive)", errno);
  return undefined(env);
}

// --- watchdogClose(fd, magic) ------------------------------------------------

// magic=true: write 'V' first, so a driver without nowayout disarms on
// close (a clean stop). magic=false: the timer keeps running and the node
// resets after the timeout: what a self-fence or a failed stop wants.
static napi_value js_watchdog_close(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  long long fd;
  bool magic = false;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_int(env, argv[0], "watchdogClose: fd", 0, INT_MAX, &fd)) return NULL;
  napi_valuetype t;
  NAPI_OK(env, napi_typeof(env, argv[1], &t));
  if (t != napi_boolean) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "watchdogClose: magic must be a boolean");
    return NULL;
  }
  NAPI_OK(env, napi_get_value_bool(env, argv[1], &magic));
  if (magic && write((int)fd, "V", 1) != 1) {
    int err = errno;
    close((int)fd);
    return throw_errno(env, "write(watchdog magic close)", err);
  }
  if (close((int)fd) != 0) return throw_errno(env, "close(watchdog)", errno);
  return undefined(env);
}

// --- notifySend(path, message) -----------------------------------------------

// One datagram to systemd's notify socket. A leading '@' names an abstract
// socket (sd_notify(3)). MSG_NOSIGNAL and MSG_DONTWAIT: a wedged or absent
// systemd must never block or kill the daemon; the caller sees the errno.
static napi_value js_notify_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_BYTES_MAX];
  char msg[NOTIFY_BYTES_MAX];
  size_t path_len, msg_len;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_str(env, argv[0], "notifySend: path", path, sizeof path, &path_len)) return NULL;
  if (!get_str(env, argv[1], "notifySend: message", msg, sizeof msg, &msg_len)) return NULL;

  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (path[0] != '/' && path[0] != '@') {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "notifySend: path must start with / or @ (abstract)");
    return NULL;
  }
  if (path_len > sizeof sa.sun_path - (path[0] == '/' ? 1 : 0)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "notifySend: path is longer than sun_path");
    return NULL;
  }
  memcpy(sa.sun_path, path, path_len);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + (path[0] == '/' ? 1 : 0));

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_UNIX, SOCK_DGRAM)", errno);
  ssize_t n = sendto(fd, msg, msg_len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, sa_len);
  int err = errno;
  close(fd);
  if (n < 0) return throw_errno(env, "sendto(NOTIFY_SOCKET)", err);
  if ((size_t)n != msg_len) return throw_errno(env, "sendto(NOTIFY_SOCKET): short write", EMSGSIZE);
  return undefined(env);
}

// --- notifyRecv: a receiving socket, for tests and the VM harness ----------

// notifyBind(path) -> fd: a bound AF_UNIX datagram socket ('@' = abstract).
static napi_value js_notify_bind(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[PATH_BYTES_MAX];
  size_t path_len;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_str(env, argv[0], "notifyBind: path", path, sizeof path, &path_len)) return NULL;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || path_len > sizeof sa.sun_path - 1) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "notifyBind: path must start with / or @ and fit sun_path");
    return NULL;
  }
  memcpy(sa.sun_path, path, path_len);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + (path[0] == '/' ? 1 : 0));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_UNIX, SOCK_DGRAM)", errno);
  if (bind(fd, (struct sockaddr *)&sa, sa_len) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  napi_value out;
  NAPI_OK(env, napi_create_int32(env, fd, &out));
  return out;
}

// notifyRecv(fd) -> string | null: one pending datagram, or null if none.
static napi_value js_notify_recv(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  long long fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_int(env, argv[0], "notifyRecv: fd", 0, INT_MAX, &fd)) return NULL;
  char buf[NOTIFY_BYTES_MAX];
  ssize_t n = recv((int)fd, buf, sizeof buf, MSG_DONTWAIT);
  napi_value out;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      NAPI_OK(env, napi_get_null(env, &out));
      return out;
    }
    return throw_errno(env, "recv", errno);
  }
  NAPI_OK(env, napi_create_string_utf8(env, buf, (size_t)n, &out));
  return out;
}

// closeFd(fd): for the fds notifyBind hands out.
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  long long fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_int(env, argv[0], "closeFd: fd", 0, INT_MAX, &fd)) return NULL;
  if (close((int)fd) != 0) return throw_errno(env, "close", errno);
  return undefined(env);
}

bool register_watchdog(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"watchdogOpen", NULL, js_watchdog_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchdogSetTimeout", NULL, js_watchdog_set_timeout, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchdogGetTimeout", NULL, js_watchdog_get_timeout, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchdogKeepalive", NULL, js_watchdog_keepalive, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchdogClose", NULL, js_watchdog_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"notifySend", NULL, js_notify_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"notifyBind", NULL, js_notify_bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"notifyRecv", NULL, js_notify_recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeFd", NULL, js_close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) == napi_ok;
}
