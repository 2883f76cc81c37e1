// DRBD control: a generic netlink socket (what drbdsetup uses), no fork.
//
// Only the socket lives here: open, send one request, read one datagram
// without blocking. The DRBD 8.4 message layout (nlmsghdr, genlmsghdr,
// struct drbd_genlmsghdr, nested attributes), the family lookup and the
// state decoding are in TypeScript (src/agents/drbd_netlink.ts), where they
// are unit-tested against byte fixtures.
//
// Why non-blocking: DRBD_ADM_PRIMARY can sit in the kernel for seconds (it
// retries while the peer still looks primary, and it runs the fence-peer
// handler synchronously). That handler asks this very daemon over its
// control socket, so a blocking recv() here would deadlock the event loop
// until DRBD gave up. The caller polls genlRecv with a deadline instead.
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tandem.h"

// A request is a few hundred bytes; refuse anything that is clearly not one.
#define GENL_REQUEST_BYTES_MAX 4096
// One datagram from the kernel: a dump part is at most a page or two
// (NLMSG_GOODSIZE); 64 KiB leaves room and MSG_TRUNC catches the rest.
#define GENL_DATAGRAM_BYTES_MAX (64 * 1024)

// genlOpen() -> fd: NETLINK_GENERIC, non-blocking, close-on-exec, bound to
// a kernel-assigned port.
static napi_value js_genl_open(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (fd < 0) return throw_errno(env, "socket(AF_NETLINK, NETLINK_GENERIC)", errno);
  struct sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind(AF_NETLINK)", err);
  }
  napi_value out;
  if (napi_create_int32(env, fd, &out) != napi_ok) {
    close(fd);
    return NULL;
  }
  return out;
}

static bool get_fd(napi_env env, napi_value v, const char *what, int *fd) {
  long long x;
  if (!get_int(env, v, what, 0, INT_MAX, &x)) return false;
  *fd = (int)x;
  return true;
}

// genlSend(fd, bytes): one complete netlink message to the kernel (port 0).
static napi_value js_genl_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_fd(env, argv[0], "genlSend: fd", &fd)) return NULL;
  bool is_typed = false;
  NAPI_OK(env, napi_is_typedarray(env, argv[1], &is_typed));
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void *data = NULL;
  if (is_typed) NAPI_OK(env, napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL));
  if (!is_typed || type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "genlSend: bytes must be a Uint8Array");
    return NULL;
  }
  if (length < sizeof(struct nlmsghdr) || length > GENL_REQUEST_BYTES_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "genlSend: a request is 16..4096 bytes");
    return NULL;
  }
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do n = sendto(fd, data, length, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "sendto(NETLINK_GENERIC)", errno);
  if ((size_t)n != length) return throw_errno(env, "sendto(NETLINK_GENERIC)", EMSGSIZE);
  napi_value out;
  NAPI_OK(env, napi_get_undefined(env, &out));
  return out;
}

// genlRecv(fd) -> Buffer | null: one datagram (one or more netlink
// messages), or null when none is queued.
static napi_value js_genl_recv(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_fd(env, argv[0], "genlRecv: fd", &fd)) return NULL;
  static __thread unsigned char buf[GENL_DATAGRAM_BYTES_MAX];
  ssize_t n;
  do n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
  while (n < 0 && errno == EINTR);
  napi_value out;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      NAPI_OK(env, napi_get_null(env, &out));
      return out;
    }
    return throw_errno(env, "recv(NETLINK_GENERIC)", errno);
  }
  if ((size_t)n > sizeof buf) return throw_errno(env, "recv(NETLINK_GENERIC): datagram truncated", EMSGSIZE);
  void *copy = NULL;
  NAPI_OK(env, napi_create_buffer_copy(env, (size_t)n, buf, &copy, &out));
  return out;
}

bool register_drbd(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"genlOpen", NULL, js_genl_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"genlSend", NULL, js_genl_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"genlRecv", NULL, js_genl_recv, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) == napi_ok;
}
