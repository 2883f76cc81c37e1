// Shared definitions for tandem's native addon (native/tandem.c).
#ifndef TANDEM_NATIVE_H
#define TANDEM_NATIVE_H

// Bump when the JS-visible API changes (version() reports it).
#define TANDEM_NATIVE_VERSION "1.4.0"

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>

// Shared between the addon's translation units, not exported from the .so.
#define TANDEM_INTERNAL __attribute__((visibility("hidden")))

// Bail out of a callback when an N-API call fails. A failing N-API call
// has usually left an exception pending; if not, raise a generic one.
#define NAPI_OK(env, call)                                                   \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      bool pending_ = false;                                                 \
      napi_is_exception_pending((env), &pending_);                           \
      if (!pending_) napi_throw_error((env), NULL, "tandem native: N-API call failed: " #call); \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

// --- helpers defined in tandem.c ---------------------------------------------

// Throws `Error("<syscall>: <strerror> (<CODE>)")` with code/errno/syscall
// properties. Always returns NULL so callers can `return throw_errno(...)`.
TANDEM_INTERNAL napi_value throw_errno(napi_env env, const char *syscall, int err);
// Fetches exactly up to `want` arguments; missing ones read as undefined.
TANDEM_INTERNAL bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
// Reads an integer in [min, max]: TypeError for a non-integer, RangeError out of range.
TANDEM_INTERNAL bool get_int(napi_env env, napi_value v, const char *what, long long min, long long max,
                             long long *out);
TANDEM_INTERNAL bool set_int(napi_env env, napi_value obj, const char *key, long long value);
TANDEM_INTERNAL bool set_str(napi_env env, napi_value obj, const char *key, const char *value);

// --- floating IP addresses (native/ip.c) ------------------------------------

TANDEM_INTERNAL napi_value js_addr_add(napi_env env, napi_callback_info info);
TANDEM_INTERNAL napi_value js_addr_del(napi_env env, napi_callback_info info);
TANDEM_INTERNAL napi_value js_addr_list(napi_env env, napi_callback_info info);
TANDEM_INTERNAL napi_value js_send_garp(napi_env env, napi_callback_info info);
TANDEM_INTERNAL napi_value js_send_unsolicited_na(napi_env env, napi_callback_info info);

// --- watchdog device and sd_notify (native/watchdog.c) ---------------------

// Adds watchdogOpen/SetTimeout/GetTimeout/Keepalive/Close, notifySend/Bind/Recv, closeFd.
TANDEM_INTERNAL bool register_watchdog(napi_env env, napi_value exports);

// --- serial lines (native/serial.c) -----------------------------------------

// Adds serialOpen/Write/Outq/Info.
TANDEM_INTERNAL bool register_serial(napi_env env, napi_value exports);

// --- generic netlink for DRBD (native/drbd.c) --------------------------------

// Adds genlOpen/Send/Recv.
TANDEM_INTERNAL bool register_drbd(napi_env env, napi_value exports);

#endif
