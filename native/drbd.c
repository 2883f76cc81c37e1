// DRBD control: a generic netlink socket (what drbdsetup uses), no fork.
//
// Only the socket lives here: open, send one request, read one datagram
// without blocking. The DRBD 8.4 message layout (nlmsghdr, genlmsghdr,
// struct drbd_genlmsghdr, nested attributes), the family lookup and the
// state decoding are in TypeScript (src/agents/drbd_netlink.ts), where they
// are unit-tested against byte fixtures.
//
// Why the send runs on a worker thread (genlSendAsync): a netlink request to
// the kernel is handled inside sendto() itself, in the caller's thread: the
// DRBD handler runs to completion (under genl_lock) before sendto returns.
// DRBD_ADM_PRIMARY can sit there for seconds (it retries while the peer
// still looks primary, and it runs the fence-peer handler synchronously,
// which asks this very daemon over its control socket), and any request
// waits for genl_lock while drbdsetup attaches a disk. On the event loop
// that deadlocked the fence-peer handler and starved the watchdog (the VMs
// reset). The replies are read without blocking (genlRecv), polled for with
// a deadline by the caller.
#define _GNU_SOURCE

#include <stdlib.h>

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

// genlSendAsync(fd, bytes) -> Promise<void>: the same send as genlSend, on a
// worker thread. The caller must not close fd before the promise settles (the
// thread uses the fd number).
struct send_job {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  size_t length;
  int err;
  unsigned char data[];
};

static void send_execute(napi_env env, void *arg) {
  (void)env;
  struct send_job *job = arg;
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do n = sendto(job->fd, job->data, job->length, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (n < 0 && errno == EINTR);
  job->err = n < 0 ? errno : (size_t)n != job->length ? EMSGSIZE : 0;
}

static void send_complete(napi_env env, napi_status status, void *arg) {
  struct send_job *job = arg;
  napi_value result = NULL;
  if (status == napi_ok && job->err == 0) {
    if (napi_get_undefined(env, &result) == napi_ok) napi_resolve_deferred(env, job->deferred, result);
  } else {
    // throw_errno builds the usual error object; take it back and reject with it
    throw_errno(env, "sendto(NETLINK_GENERIC)", status == napi_ok ? job->err : ECANCELED);
    if (napi_get_and_clear_last_exception(env, &result) == napi_ok && result != NULL) napi_reject_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value js_genl_send_async(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_fd(env, argv[0], "genlSendAsync: fd", &fd)) return NULL;
  bool is_typed = false;
  NAPI_OK(env, napi_is_typedarray(env, argv[1], &is_typed));
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void *data = NULL;
  if (is_typed) NAPI_OK(env, napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL));
  if (!is_typed || type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "genlSendAsync: bytes must be a Uint8Array");
    return NULL;
  }
  if (length < sizeof(struct nlmsghdr) || length > GENL_REQUEST_BYTES_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "genlSendAsync: a request is 16..4096 bytes");
    return NULL;
  }
  struct send_job *job = calloc(1, sizeof *job + length);
  if (job == NULL) return throw_errno(env, "genlSendAsync", ENOMEM);
  job->fd = fd;
  job->length = length;
  memcpy(job->data, data, length);
  napi_value promise, name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "tandem.genlSend", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, send_execute, send_complete, job, &job->work) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "genlSendAsync: cannot create the worker job");
    return NULL;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    free(job);
    napi_throw_error(env, NULL, "genlSendAsync: cannot queue the worker job");
    return NULL;
  }
  return promise;
}

bool register_drbd(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"genlOpen", NULL, js_genl_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"genlSend", NULL, js_genl_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"genlRecv", NULL, js_genl_recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"genlSendAsync", NULL, js_genl_send_async, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) == napi_ok;
}
