// Serial heartbeat lines (ha.cf `serial /dev/ttyS0`, `baud 19200`): termios.
//
// Bun can read a tty fd as a stream (Bun.file(fd).stream(), epoll-driven),
// but it cannot set line discipline parameters, so opening and configuring
// the port lives here, with a non-blocking write and the driver's output
// queue depth (TIOCOUTQ) for pacing.
//
// The line is raw (cfmakeraw: 8 data bits, no parity, no echo, no signals,
// no CR/NL mapping) with CLOCAL (ignore modem control lines: a null-modem
// cable without DCD must still carry data), no RTS/CTS and no XON/XOFF flow
// control: a heartbeat that cannot leave is dropped and counted in JS, never
// held back by a cable's handshake lines. Heartbeat 3.0.6 sets CRTSCTS; with
// a cable that does not wire RTS/CTS it would stall, which is why tandem
// does not copy it (Linux still raises RTS on open, so a Heartbeat peer that
// uses CRTSCTS sees CTS asserted and can send).
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "tandem.h"

#define PATH_BYTES_MAX 4096
// One write() hands at most this much to the driver; a frame is far smaller.
#define WRITE_BYTES_MAX (64 * 1024)

// The rates Heartbeat 3.0.6 accepts for `baud` (config.c), as termios speeds.
static speed_t baud_to_speed(long long baud) {
  switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    default: return 0;
  }
}

static long long speed_to_baud(speed_t s) {
  switch (s) {
    case B9600: return 9600;
    case B19200: return 19200;
    case B38400: return 38400;
    case B57600: return 57600;
    case B115200: return 115200;
    case B230400: return 230400;
    case B460800: return 460800;
    default: return -1;
  }
}

static bool get_path(napi_env env, napi_value v, char *buf, size_t cap) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "serialOpen: path must be a string");
    return false;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) return false;
  if (len == 0 || len >= cap - 1 || strlen(buf) != len || buf[0] != '/') {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "serialOpen: path must be an absolute path without NUL bytes");
    return false;
  }
  return true;
}

// Throws "<what> <path>: <strerror> (<CODE>)" so the log names the port.
static napi_value throw_path(napi_env env, const char *what, const char *path, int err) {
  char syscall[PATH_BYTES_MAX + 64];
  snprintf(syscall, sizeof syscall, "%s %s", what, path);
  return throw_errno(env, syscall, err);
}

// serialOpen(path, baud) -> fd: O_RDWR|O_NOCTTY|O_NONBLOCK|O_CLOEXEC, raw,
// CLOCAL|CREAD, no flow control, both speeds set, both queues flushed.
static napi_value js_serial_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_BYTES_MAX];
  long long baud;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_path(env, argv[0], path, sizeof path)) return NULL;
  if (!get_int(env, argv[1], "serialOpen: baud", 1, 4000000, &baud)) return NULL;
  speed_t speed = baud_to_speed(baud);
  if (speed == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "serialOpen: baud must be 9600, 19200, 38400, 57600, 115200, 230400 or 460800");
    return NULL;
  }
  // O_NONBLOCK also keeps open() from waiting for carrier (DCD) before CLOCAL is set.
  int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_path(env, "open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return throw_path(env, "fstat", path, err);
  }
  if (!S_ISCHR(st.st_mode)) {
    close(fd);
    return throw_path(env, "serialOpen: not a character device:", path, ENODEV);
  }
  struct termios ti;
  if (tcgetattr(fd, &ti) != 0) {
    int err = errno;
    close(fd);
    return throw_path(env, "tcgetattr (not a terminal?)", path, err);
  }
  cfmakeraw(&ti);
  ti.c_cflag |= CLOCAL | CREAD;
  ti.c_cflag &= ~(CRTSCTS | HUPCL);
  ti.c_iflag &= ~(IXON | IXOFF | IXANY);
  // Reads are non-blocking (O_NONBLOCK) and driven by epoll; VMIN=1 VTIME=0
  // only matters if someone clears O_NONBLOCK: then a read waits for a byte.
  ti.c_cc[VMIN] = 1;
  ti.c_cc[VTIME] = 0;
  if (cfsetispeed(&ti, speed) != 0 || cfsetospeed(&ti, speed) != 0) {
    int err = errno;
    close(fd);
    return throw_path(env, "cfsetspeed", path, err);
  }
  if (tcsetattr(fd, TCSANOW, &ti) != 0) {
    int err = errno;
    close(fd);
    return throw_path(env, "tcsetattr", path, err);
  }
  // Whatever sat in the queues (a previous owner's half message) is stale.
  if (tcflush(fd, TCIOFLUSH) != 0) {
    int err = errno;
    close(fd);
    return throw_path(env, "tcflush", path, err);
  }
  napi_value out;
  NAPI_OK(env, napi_create_int32(env, fd, &out));
  return out;
}

static bool get_fd(napi_env env, napi_value v, const char *what, int *fd) {
  long long x;
  if (!get_int(env, v, what, 0, INT_MAX, &x)) return false;
  *fd = (int)x;
  return true;
}

// serialWrite(fd, bytes) -> bytes accepted by the driver; 0 when it would
// block (EAGAIN). Other errors (EIO: the other end of a pty hung up) throw.
static napi_value js_serial_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_fd(env, argv[0], "serialWrite: fd", &fd)) return NULL;
  bool is_typed = false;
  NAPI_OK(env, napi_is_typedarray(env, argv[1], &is_typed));
  if (!is_typed) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "serialWrite: bytes must be a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  NAPI_OK(env, napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "serialWrite: bytes must be a Uint8Array");
    return NULL;
  }
  if (length > WRITE_BYTES_MAX) length = WRITE_BYTES_MAX;
  ssize_t n = 0;
  if (length > 0) {
    do n = write(fd, data, length);
    while (n < 0 && errno == EINTR);
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return throw_errno(env, "write", errno);
    n = 0;
  }
  napi_value out;
  NAPI_OK(env, napi_create_int64(env, (int64_t)n, &out));
  return out;
}

// serialOutq(fd) -> bytes written but not yet sent by the driver (TIOCOUTQ).
// On a UART this is what a slow line backs up into; ptys report 0.
static napi_value js_serial_outq(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_fd(env, argv[0], "serialOutq: fd", &fd)) return NULL;
  int q = 0;
  if (ioctl(fd, TIOCOUTQ, &q) != 0) return throw_errno(env, "ioctl(TIOCOUTQ)", errno);
  napi_value out;
  NAPI_OK(env, napi_create_int32(env, q, &out));
  return out;
}

// serialInfo(fd) -> the line's settings as the driver holds them (tests, status).
static napi_value js_serial_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_fd(env, argv[0], "serialInfo: fd", &fd)) return NULL;
  struct termios ti;
  if (tcgetattr(fd, &ti) != 0) return throw_errno(env, "tcgetattr", errno);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return throw_errno(env, "fcntl(F_GETFL)", errno);
  napi_value out;
  NAPI_OK(env, napi_create_object(env, &out));
  bool raw = (ti.c_lflag & (ICANON | ECHO | ISIG | IEXTEN)) == 0 && (ti.c_oflag & OPOST) == 0 &&
             (ti.c_iflag & (ICRNL | INLCR | IGNCR | ISTRIP | PARMRK)) == 0 && (ti.c_cflag & CSIZE) == CS8 &&
             (ti.c_cflag & PARENB) == 0;
  napi_value b;
  if (!set_int(env, out, "ispeed", speed_to_baud(cfgetispeed(&ti))) ||
      !set_int(env, out, "ospeed", speed_to_baud(cfgetospeed(&ti))) || !set_int(env, out, "vmin", ti.c_cc[VMIN]) ||
      !set_int(env, out, "vtime", ti.c_cc[VTIME])) {
    return NULL;
  }
  NAPI_OK(env, napi_get_boolean(env, raw, &b));
  NAPI_OK(env, napi_set_named_property(env, out, "raw", b));
  NAPI_OK(env, napi_get_boolean(env, (ti.c_cflag & CLOCAL) != 0, &b));
  NAPI_OK(env, napi_set_named_property(env, out, "clocal", b));
  NAPI_OK(env, napi_get_boolean(env, (ti.c_cflag & CRTSCTS) != 0, &b));
  NAPI_OK(env, napi_set_named_property(env, out, "crtscts", b));
  NAPI_OK(env, napi_get_boolean(env, (ti.c_iflag & (IXON | IXOFF)) != 0, &b));
  NAPI_OK(env, napi_set_named_property(env, out, "ixon", b));
  NAPI_OK(env, napi_get_boolean(env, (fl & O_NONBLOCK) != 0, &b));
  NAPI_OK(env, napi_set_named_property(env, out, "nonblock", b));
  return out;
}

bool register_serial(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"serialOpen", NULL, js_serial_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"serialWrite", NULL, js_serial_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"serialOutq", NULL, js_serial_outq, NULL, NULL, NULL, napi_enumerable, NULL},
      {"serialInfo", NULL, js_serial_info, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) == napi_ok;
}
