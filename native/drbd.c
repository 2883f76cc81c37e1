// DRBD control: a generic netlink socket (what drbdsetup uses), no fork.
//
// Only the socket lives here: open, send one request, read one datagram
// without blocking. The DRBD 8.4 message layout (nlmsghdr, genlmsghdr,
// struct drbd_genlmsghdr, nested attributes), the family lookup and the
// state decoding are in TypeScript (src/agents/drbd_netlink.ts), where they
// are unit-tested against byte fixtures.
//
// Why requests run on a worker thread (genlTransact): a netlink request to
// the kernel is handled inside sendto() itself, in the caller's thread: the
// DRBD handler runs to completion (under genl_lock) before sendto returns.
// DRBD_ADM_PRIMARY can sit there for seconds (it retries while the peer
// still looks primary, and it runs the fence-peer handler synchronously,
// which asks this very daemon over its control socket), and any request
// waits for genl_lock while drbdsetup attaches a disk. On the event loop
// that deadlocked the fence-peer handler and starved the watchdog (the VMs
// reset). genlOpen/Send/Recv (non-blocking, on the caller's thread) stay for
// tests and tools that want them.
#define _GNU_SOURCE

#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

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

// genlTransact(bytes, dump, timeout_ms) -> Promise<Buffer>: one whole
// request on a worker thread, on a private blocking socket: send, then read
// datagrams until the answer is complete (one datagram for a plain request;
// NLMSG_DONE or NLMSG_ERROR for a dump), each padded to 4 bytes and
// concatenated. Dump parts after the first are made by the kernel inside
// recv() (under genl_lock too), so the reads must be off the event loop as
// well. Bounded: the datagrams' total, and the time (SO_RCVTIMEO per read, a
// deadline over all); a request stuck in the kernel holds only this thread.
#define GENL_REPLY_BYTES_MAX (1024 * 1024)

struct transact_job {
  napi_async_work work;
  napi_deferred deferred;
  size_t length;
  bool dump;
  long long timeout_ms;
  int err;
  const char *what;
  unsigned char *reply;
  size_t reply_len;
  unsigned char data[];
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int transact_run(struct transact_job *job, int fd) {
  struct sockaddr_nl addr;
  memset(&addr, 0, sizeof addr);
  addr.nl_family = AF_NETLINK;
  job->what = "bind(AF_NETLINK)";
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return errno;
  long long deadline = now_ms() + job->timeout_ms;
  ssize_t n;
  job->what = "sendto(NETLINK_GENERIC)";
  do n = sendto(fd, job->data, job->length, 0, (struct sockaddr *)&addr, sizeof addr);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  if ((size_t)n != job->length) return EMSGSIZE;
  unsigned char *buf = malloc(GENL_DATAGRAM_BYTES_MAX);
  if (buf == NULL) return ENOMEM;
  int err = 0;
  for (;;) {
    long long left = deadline - now_ms();
    job->what = "recv(NETLINK_GENERIC)";
    if (left <= 0) { err = ETIMEDOUT; break; }
    struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) { err = errno; break; }
    do n = recv(fd, buf, GENL_DATAGRAM_BYTES_MAX, MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    if (n < 0) { err = (errno == EAGAIN || errno == EWOULDBLOCK) ? ETIMEDOUT : errno; break; }
    if ((size_t)n > GENL_DATAGRAM_BYTES_MAX) { err = EMSGSIZE; break; }
    size_t padded = ((size_t)n + 3) & ~(size_t)3;
    job->what = "netlink reply";
    if (job->reply_len + padded > GENL_REPLY_BYTES_MAX) { err = E2BIG; break; }
    unsigned char *grown = realloc(job->reply, job->reply_len + padded);
    if (grown == NULL) { err = ENOMEM; break; }
    job->reply = grown;
    memcpy(job->reply + job->reply_len, buf, (size_t)n);
    memset(job->reply + job->reply_len + n, 0, padded - (size_t)n);
    job->reply_len += padded;
    if (!job->dump) break;
    bool done = false;
    for (size_t off = 0; off + sizeof(struct nlmsghdr) <= (size_t)n;) {
      struct nlmsghdr h;
      memcpy(&h, buf + off, sizeof h);
      if (h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR) done = true;
      if (h.nlmsg_len < sizeof h) break;
      off += NLMSG_ALIGN(h.nlmsg_len);
    }
    if (done) break;
  }
  free(buf);
  return err;
}

static void transact_execute(napi_env env, void *arg) {
  (void)env;
  struct transact_job *job = arg;
  job->what = "socket(AF_NETLINK, NETLINK_GENERIC)";
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (fd < 0) {
    job->err = errno;
    return;
  }
  job->err = transact_run(job, fd);
  close(fd);
}

static void transact_complete(napi_env env, napi_status status, void *arg) {
  struct transact_job *job = arg;
  napi_value result = NULL;
  if (status == napi_ok && job->err == 0) {
    void *copy = NULL;
    if (napi_create_buffer_copy(env, job->reply_len, job->reply != NULL ? job->reply : (void *)"", &copy, &result) == napi_ok) {
      napi_resolve_deferred(env, job->deferred, result);
    }
  } else {
    // throw_errno builds the usual error object; take it back and reject with it
    throw_errno(env, job->what, status == napi_ok ? job->err : ECANCELED);
    if (napi_get_and_clear_last_exception(env, &result) == napi_ok && result != NULL) napi_reject_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free(job->reply);
  free(job);
}

static napi_value js_genl_transact(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  bool is_typed = false;
  NAPI_OK(env, napi_is_typedarray(env, argv[0], &is_typed));
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void *data = NULL;
  if (is_typed) NAPI_OK(env, napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL));
  if (!is_typed || type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "genlTransact: bytes must be a Uint8Array");
    return NULL;
  }
  if (length < sizeof(struct nlmsghdr) || length > GENL_REQUEST_BYTES_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "genlTransact: a request is 16..4096 bytes");
    return NULL;
  }
  bool dump = false;
  NAPI_OK(env, napi_get_value_bool(env, argv[1], &dump));
  long long timeout_ms;
  if (!get_int(env, argv[2], "genlTransact: timeout_ms", 1, 3600 * 1000, &timeout_ms)) return NULL;
  struct transact_job *job = calloc(1, sizeof *job + length);
  if (job == NULL) return throw_errno(env, "genlTransact", ENOMEM);
  job->length = length;
  job->dump = dump;
  job->timeout_ms = timeout_ms;
  memcpy(job->data, data, length);
  napi_value promise, name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "tandem.genlTransact", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, transact_execute, transact_complete, job, &job->work) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "genlTransact: cannot create the worker job");
    return NULL;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    free(job);
    napi_throw_error(env, NULL, "genlTransact: cannot queue the worker job");
    return NULL;
  }
  return promise;
}

bool register_drbd(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"genlOpen", NULL, js_genl_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"genlSend", NULL, js_genl_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"genlRecv", NULL, js_genl_recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"genlTransact", NULL, js_genl_transact, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) == napi_ok;
}
