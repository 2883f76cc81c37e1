// Floating IP addresses for tandem's built-in IP resource (src/agents/ipaddr.ts):
//
//   addrAdd / addrDel / addrList   rtnetlink (RTM_NEWADDR / RTM_DELADDR /
//                                  RTM_GETADDR), the kernel's own errno
//   sendGarp                       gratuitous ARP from an AF_PACKET socket
//   sendUnsolicitedNa              unsolicited ICMPv6 Neighbour Advertisement
//
// No `ip`, `arping` or `send_arp` is run: a takeover must not depend on a
// fork/exec on a machine that may be short of memory or processes.
// Same rules as tandem.c: arguments checked (TypeError/RangeError), system
// errors thrown with the errno text and code, no global state.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tandem.h"

// Bound on every netlink reply wait: the kernel answers at once, so this
// only matters if something is badly wrong; it must never hang the daemon.
#define NL_TIMEOUT_SEC 5

union inaddr {
  struct in_addr v4;
  struct in6_addr v6;
};

// --- argument helpers -----------------------------------------------------

// A JS string without NUL into buf (size incl. terminator). TypeError for a
// non-string or an embedded NUL, RangeError for an empty or too long one.
static bool get_str(napi_env env, napi_value v, const char *what, char *buf, size_t size) {
  napi_valuetype t;
  char msg[160];
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t != napi_string) {
    snprintf(msg, sizeof msg, "%s must be a string", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  size_t full = 0, len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &full) != napi_ok) return false;
  if (full == 0 || full >= size) {
    snprintf(msg, sizeof msg, "%s must be 1..%zu bytes long", what, size - 1);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) return false;
  if (len != strlen(buf)) {
    snprintf(msg, sizeof msg, "%s must not contain NUL", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return false;
  }
  return true;
}

// An interface name (checked only for form: resolve it with ifindex_of()
// after every other argument is checked, so a bad call never gets as far as
// naming a real interface).
static bool get_ifname(napi_env env, napi_value v, const char *fn, char name[IFNAMSIZ]) {
  char what[64];
  snprintf(what, sizeof what, "%s: ifname", fn);
  return get_str(env, v, what, name, IFNAMSIZ);
}

// The index of an interface in the caller's network namespace (ENODEV if none).
static bool ifindex_of(napi_env env, const char *name, unsigned *ifindex) {
  *ifindex = if_nametoindex(name);
  if (*ifindex == 0) {
    char sys[64];
    snprintf(sys, sizeof sys, "if_nametoindex(%s)", name);
    throw_errno(env, sys, errno == ENXIO ? ENODEV : errno);
    return false;
  }
  return true;
}

// An IP address in text form. want = AF_INET, AF_INET6 or AF_UNSPEC (either).
static bool get_ip(napi_env env, napi_value v, const char *what, int want, union inaddr *out, int *family) {
  char text[INET6_ADDRSTRLEN + 8];
  char msg[200];
  if (!get_str(env, v, what, text, sizeof text)) return false;
  memset(out, 0, sizeof *out);
  if (want != AF_INET6 && inet_pton(AF_INET, text, &out->v4) == 1) {
    *family = AF_INET;
    return true;
  }
  if (want != AF_INET && inet_pton(AF_INET6, text, &out->v6) == 1) {
    *family = AF_INET6;
    return true;
  }
  snprintf(msg, sizeof msg, "%s must be an %s address, got \"%s\"", what,
           want == AF_INET ? "IPv4" : want == AF_INET6 ? "IPv6" : "IPv4 or IPv6", text);
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
  return false;
}

// Named property of an options object; *present false when absent/undefined.
static bool get_opt(napi_env env, napi_value obj, const char *key, napi_value *out, bool *present) {
  bool has = false;
  *present = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok) return false;
  if (!has) return true;
  if (napi_get_named_property(env, obj, key, out) != napi_ok) return false;
  napi_valuetype t;
  if (napi_typeof(env, *out, &t) != napi_ok) return false;
  *present = t != napi_undefined;
  return true;
}

static napi_value undefined(napi_env env) {
  napi_value out = NULL;
  napi_get_undefined(env, &out);
  return out;
}

// --- rtnetlink --------------------------------------------------------------

struct nl_req {
  struct nlmsghdr nh;
  struct ifaddrmsg ifa;
  char attrs[128];
};

static void nl_attr(struct nlmsghdr *nh, size_t cap, unsigned short type, const void *data, size_t len) {
  struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));
  // every caller's attributes fit in nl_req.attrs; this is a programming error
  if (NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(len) > cap) return;
  rta->rta_type = type;
  rta->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(rta), data, len);
  nh->nlmsg_len = (unsigned)(NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(len));
}

// Opens a NETLINK_ROUTE socket with a receive timeout. -1 with errno set.
static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = NL_TIMEOUT_SEC, .tv_usec = 0};
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int nl_send(int fd, struct nlmsghdr *nh) {
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n = sendto(fd, nh, nh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    if (n == (ssize_t)nh->nlmsg_len) return 0;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? errno : EMSGSIZE;
  }
}

// One recv() into buf; returns its length, or -errno (EAGAIN -> ETIMEDOUT).
static ssize_t nl_recv(int fd, char *buf, size_t size) {
  for (;;) {
    ssize_t n = recv(fd, buf, size, 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    return -(errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno);
  }
}

// Sends a request with NLM_F_ACK and waits for its ack. Returns 0 or the
// kernel's (positive) errno; *where names the failing step.
static int nl_request(struct nlmsghdr *nh, const char **where) {
  static const unsigned seq_base = 0x74646d00; // "tdm": any value works, it only pairs request and ack
  int fd = nl_open();
  if (fd < 0) {
    *where = "socket(AF_NETLINK)";
    return errno;
  }
  nh->nlmsg_seq = seq_base;
  nh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  int err = nl_send(fd, nh);
  if (err != 0) {
    *where = "sendto(netlink)";
    close(fd);
    return err;
  }
  char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t n = nl_recv(fd, buf, sizeof buf);
    if (n < 0) {
      *where = "recv(netlink)";
      close(fd);
      return (int)-n;
    }
    size_t left = (size_t)n;
    for (struct nlmsghdr *r = (struct nlmsghdr *)buf; NLMSG_OK(r, left); r = NLMSG_NEXT(r, left)) {
      if (r->nlmsg_seq != seq_base || r->nlmsg_type != NLMSG_ERROR) continue;
      close(fd);
      if (r->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
        *where = "recv(netlink)";
        return EPROTO;
      }
      const struct nlmsgerr *e = NLMSG_DATA(r);
      return -e->error; // 0: the ack
    }
  }
}

// addrAdd(ifname, address, prefixlen, {label?, broadcast?, nodad?})
// addrDel(ifname, address, prefixlen)
static napi_value addr_change(napi_env env, napi_callback_info info, bool add) {
  const char *fn = add ? "addrAdd" : "addrDel";
  char what[64];
  napi_value argv[4];
  char ifname[IFNAMSIZ];
  unsigned ifindex;
  union inaddr addr;
  int family;
  long long prefixlen;
  if (!get_args(env, info, 4, argv)) return NULL;
  if (!get_ifname(env, argv[0], fn, ifname)) return NULL;
  snprintf(what, sizeof what, "%s: address", fn);
  if (!get_ip(env, argv[1], what, AF_UNSPEC, &addr, &family)) return NULL;
  snprintf(what, sizeof what, "%s: prefixlen", fn);
  if (!get_int(env, argv[2], what, 0, family == AF_INET ? 32 : 128, &prefixlen)) return NULL;

  char label[IFNAMSIZ] = "";
  bool have_brd = false;
  union inaddr brd;
  bool nodad = family == AF_INET6; // usable at once: a takeover cannot wait for DAD
  if (add) {
    napi_valuetype t;
    NAPI_OK(env, napi_typeof(env, argv[3], &t));
    if (t == napi_object) {
      napi_value v;
      bool present;
      if (!get_opt(env, argv[3], "label", &v, &present)) return NULL;
      if (present) {
        if (family != AF_INET) {
          napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "addrAdd: label is for IPv4 addresses only");
          return NULL;
        }
        if (!get_str(env, v, "addrAdd: label", label, sizeof label)) return NULL;
        size_t n = strlen(ifname);
        if (strncmp(label, ifname, n) != 0 || (label[n] != '\0' && label[n] != ':')) {
          napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                                "addrAdd: label must be the interface name or start with \"<ifname>:\"");
          return NULL;
        }
      }
      if (!get_opt(env, argv[3], "broadcast", &v, &present)) return NULL;
      if (present) {
        int bf;
        if (family != AF_INET) {
          napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "addrAdd: broadcast is for IPv4 addresses only");
          return NULL;
        }
        if (!get_ip(env, v, "addrAdd: broadcast", AF_INET, &brd, &bf)) return NULL;
        have_brd = true;
      }
      if (!get_opt(env, argv[3], "nodad", &v, &present)) return NULL;
      if (present) {
        NAPI_OK(env, napi_typeof(env, v, &t));
        if (t != napi_boolean) {
          napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "addrAdd: nodad must be a boolean");
          return NULL;
        }
        NAPI_OK(env, napi_get_value_bool(env, v, &nodad));
        if (family != AF_INET6) nodad = false; // no DAD for IPv4 addresses anyway
      }
    } else if (t != napi_undefined) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "addrAdd: options must be an object");
      return NULL;
    }
  }

  if (!ifindex_of(env, ifname, &ifindex)) return NULL;

  struct nl_req req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
  req.nh.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
  // CREATE|EXCL: an address that is already there is EEXIST, never replaced
  req.nh.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;
  req.ifa.ifa_family = (unsigned char)family;
  req.ifa.ifa_prefixlen = (unsigned char)prefixlen;
  req.ifa.ifa_index = ifindex;
  req.ifa.ifa_flags = nodad ? IFA_F_NODAD : 0;
  req.ifa.ifa_scope = family == AF_INET && (ntohl(addr.v4.s_addr) >> 24) == 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
  size_t alen = family == AF_INET ? sizeof addr.v4 : sizeof addr.v6;
  nl_attr(&req.nh, sizeof req, IFA_LOCAL, &addr, alen);
  nl_attr(&req.nh, sizeof req, IFA_ADDRESS, &addr, alen);
  if (have_brd) nl_attr(&req.nh, sizeof req, IFA_BROADCAST, &brd.v4, sizeof brd.v4);
  if (label[0] != '\0') nl_attr(&req.nh, sizeof req, IFA_LABEL, label, strlen(label) + 1);

  const char *where = NULL;
  int err = nl_request(&req.nh, &where);
  if (err != 0) {
    char text[INET6_ADDRSTRLEN];
    char sys[128];
    inet_ntop(family, &addr, text, sizeof text);
    if (where == NULL) {
      snprintf(sys, sizeof sys, "%s %s/%lld dev %s", add ? "RTM_NEWADDR" : "RTM_DELADDR", text, prefixlen, ifname);
      where = sys;
    }
    return throw_errno(env, where, err);
  }
  return undefined(env);
}

TANDEM_INTERNAL napi_value js_addr_add(napi_env env, napi_callback_info info) {
  return addr_change(env, info, true);
}

TANDEM_INTERNAL napi_value js_addr_del(napi_env env, napi_callback_info info) {
  return addr_change(env, info, false);
}

// One RTM_NEWADDR of a dump -> {ifname, ifindex, family, address, prefixlen, label, flags, scope},
// appended to `list`. Entries of other families or interfaces are skipped.
static bool addr_entry(napi_env env, const struct nlmsghdr *nh, unsigned only, napi_value list, uint32_t *count) {
  const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
  if (nh->nlmsg_len < NLMSG_LENGTH(sizeof *ifa)) return true;
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return true;
  if (only != 0 && ifa->ifa_index != only) return true;
  const void *local = NULL, *address = NULL;
  const char *label = NULL;
  uint32_t flags = ifa->ifa_flags;
  size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
  int left = (int)IFA_PAYLOAD(nh);
  for (const struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
    size_t len = RTA_PAYLOAD(rta);
    switch (rta->rta_type) {
      case IFA_LOCAL: if (len == alen) local = RTA_DATA(rta); break;
      case IFA_ADDRESS: if (len == alen) address = RTA_DATA(rta); break;
      case IFA_LABEL: if (len > 0 && memchr(RTA_DATA(rta), '\0', len) != NULL) label = RTA_DATA(rta); break;
      case IFA_FLAGS: if (len == sizeof(uint32_t)) memcpy(&flags, RTA_DATA(rta), sizeof flags); break;
      default: break;
    }
  }
  // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on point-to-point links
  const void *own = local != NULL ? local : address;
  if (own == NULL) return true;
  char ifname[IFNAMSIZ];
  if (if_indextoname(ifa->ifa_index, ifname) == NULL) return true; // gone meanwhile
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(ifa->ifa_family, own, text, sizeof text) == NULL) return true;

  napi_value o;
  if (napi_create_object(env, &o) != napi_ok) return false;
  if (!set_str(env, o, "ifname", ifname) || !set_int(env, o, "ifindex", ifa->ifa_index) ||
      !set_int(env, o, "family", ifa->ifa_family == AF_INET ? 4 : 6) || !set_str(env, o, "address", text) ||
      !set_int(env, o, "prefixlen", ifa->ifa_prefixlen) || !set_str(env, o, "label", label != NULL ? label : ifname) ||
      !set_int(env, o, "flags", flags) || !set_int(env, o, "scope", ifa->ifa_scope)) {
    return false;
  }
  return napi_set_element(env, list, (*count)++, o) == napi_ok;
}

// addrList(ifname?) -> [{ifname, ifindex, family, address, prefixlen, label, flags, scope}]
TANDEM_INTERNAL napi_value js_addr_list(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char ifname[IFNAMSIZ];
  unsigned only = 0;
  napi_valuetype t;
  if (!get_args(env, info, 1, argv)) return NULL;
  NAPI_OK(env, napi_typeof(env, argv[0], &t));
  if (t != napi_undefined && (!get_ifname(env, argv[0], "addrList", ifname) || !ifindex_of(env, ifname, &only))) return NULL;

  // A dump that raced with a change is flagged NLM_F_DUMP_INTR: take it again.
  for (int attempt = 0; attempt < 3; attempt++) {
    struct nl_req req;
    memset(&req, 0, sizeof req);
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
    req.nh.nlmsg_type = RTM_GETADDR;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = 1;
    req.ifa.ifa_family = AF_UNSPEC;

    int fd = nl_open();
    if (fd < 0) return throw_errno(env, "socket(AF_NETLINK)", errno);
    int err = nl_send(fd, &req.nh);
    if (err != 0) {
      close(fd);
      return throw_errno(env, "sendto(netlink)", err);
    }
    napi_value list;
    uint32_t count = 0;
    bool interrupted = false, done = false;
    if (napi_create_array(env, &list) != napi_ok) {
      close(fd);
      return NULL;
    }
    char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
    while (!done) {
      ssize_t n = nl_recv(fd, buf, sizeof buf);
      if (n < 0) {
        close(fd);
        return throw_errno(env, "recv(netlink)", (int)-n);
      }
      size_t left = (size_t)n;
      for (struct nlmsghdr *r = (struct nlmsghdr *)buf; !done && NLMSG_OK(r, left); r = NLMSG_NEXT(r, left)) {
        if (r->nlmsg_seq != req.nh.nlmsg_seq) continue;
        if (r->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        if (r->nlmsg_type == NLMSG_DONE) {
          done = true;
        } else if (r->nlmsg_type == NLMSG_ERROR) {
          const struct nlmsgerr *e = NLMSG_DATA(r);
          close(fd);
          return throw_errno(env, "RTM_GETADDR", r->nlmsg_len < NLMSG_LENGTH(sizeof *e) ? EPROTO : -e->error);
        } else if (r->nlmsg_type == RTM_NEWADDR && !addr_entry(env, r, only, list, &count)) {
          close(fd);
          return NULL;
        }
      }
    }
    close(fd);
    if (!interrupted) return list;
  }
  return throw_errno(env, "RTM_GETADDR", EBUSY);
}

// --- link-layer helpers -----------------------------------------------------

// The interface's Ethernet address; fails (EOPNOTSUPP) for non-Ethernet,
// NOARP or loopback interfaces and (ENETDOWN) for one that is down.
static bool ether_of(napi_env env, int fd, const char *ifname, const char *fn, unsigned char mac[ETH_ALEN]) {
  struct ifreq ifr;
  char sys[64];
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    snprintf(sys, sizeof sys, "%s: SIOCGIFFLAGS(%s)", fn, ifname);
    throw_errno(env, sys, errno);
    return false;
  }
  if ((ifr.ifr_flags & (IFF_NOARP | IFF_LOOPBACK)) != 0) {
    snprintf(sys, sizeof sys, "%s: %s does not do ARP/ND", fn, ifname);
    throw_errno(env, sys, EOPNOTSUPP);
    return false;
  }
  if ((ifr.ifr_flags & IFF_UP) == 0) {
    snprintf(sys, sizeof sys, "%s: %s is down", fn, ifname);
    throw_errno(env, sys, ENETDOWN);
    return false;
  }
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
    snprintf(sys, sizeof sys, "%s: SIOCGIFHWADDR(%s)", fn, ifname);
    throw_errno(env, sys, errno);
    return false;
  }
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    snprintf(sys, sizeof sys, "%s: %s is not an Ethernet interface", fn, ifname);
    throw_errno(env, sys, EOPNOTSUPP);
    return false;
  }
  memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
  return true;
}

// Closing an AF_PACKET socket waits for an RCU grace period (packet_release
// calls synchronize_net(); 8-25 ms measured), far too long to block the JS
// thread for on every announcement of a takeover. The packets are already
// out by then, so the close happens on a short-lived detached thread with
// every signal blocked; if no thread can be made, it happens here.
static void *closer(void *arg) {
  close((int)(intptr_t)arg);
  return NULL;
}

static void close_later(int fd) {
  pthread_attr_t attr;
  sigset_t all, old;
  pthread_t thread;
  int rc = -1;
  if (pthread_attr_init(&attr) == 0) {
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); // inherited by the new thread
    if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
        pthread_attr_setstacksize(&attr, 64 * 1024) == 0) {
      rc = pthread_create(&thread, &attr, closer, (void *)(intptr_t)fd);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
  }
  if (rc != 0) close(fd);
}

static napi_value mac_string(napi_env env, const unsigned char mac[ETH_ALEN]) {
  char text[18];
  napi_value out;
  snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  NAPI_OK(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out));
  return out;
}

// --- sendGarp(ifname, ipv4, mode = "both") -> {mac, sent} -------------------
//
// A gratuitous ARP announces "ipv4 is at <ifname's MAC>" to the broadcast
// address; sender and target protocol address are both ipv4. Like
// Heartbeat's send_arp (libnet version), "both" sends an ARP request
// (target hardware address 00:00:00:00:00:00) and then an ARP reply (target
// hardware address = our MAC, which Linux requires to treat a reply as
// gratuitous), because some hosts heed only one of the two forms.
struct arp_ether_ipv4 {
  struct arphdr h;
  unsigned char sha[ETH_ALEN];
  unsigned char spa[4];
  unsigned char tha[ETH_ALEN];
  unsigned char tpa[4];
} __attribute__((packed));

TANDEM_INTERNAL napi_value js_send_garp(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char ifname[IFNAMSIZ];
  unsigned ifindex;
  union inaddr ip;
  int family;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_ifname(env, argv[0], "sendGarp", ifname)) return NULL;
  if (!get_ip(env, argv[1], "sendGarp: ipv4", AF_INET, &ip, &family)) return NULL;
  bool request = true, reply = true;
  napi_valuetype t;
  NAPI_OK(env, napi_typeof(env, argv[2], &t));
  if (t != napi_undefined) {
    char mode[8] = "";
    if (t == napi_string) {
      size_t len = 0;
      NAPI_OK(env, napi_get_value_string_utf8(env, argv[2], mode, sizeof mode, &len));
      if (len != strlen(mode)) mode[0] = '\0';
    }
    if (strcmp(mode, "request") == 0) {
      reply = false;
    } else if (strcmp(mode, "reply") == 0) {
      request = false;
    } else if (strcmp(mode, "both") != 0) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "sendGarp: mode must be \"request\", \"reply\" or \"both\"");
      return NULL;
    }
  }

  if (!ifindex_of(env, ifname, &ifindex)) return NULL;

  // protocol 0: a send-only socket (sll_protocol below sets the EtherType),
  // so the kernel never queues received frames to it
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  unsigned char mac[ETH_ALEN];
  if (!ether_of(env, fd, ifname, "sendGarp", mac)) {
    close_later(fd);
    return NULL;
  }
  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = (int)ifindex;
  to.sll_halen = ETH_ALEN;
  memset(to.sll_addr, 0xff, ETH_ALEN); // Ethernet broadcast; the kernel adds our MAC as source

  int sent = 0;
  for (int i = 0; i < 2; i++) {
    bool is_reply = i == 1;
    if (is_reply ? !reply : !request) continue;
    struct arp_ether_ipv4 p;
    memset(&p, 0, sizeof p);
    p.h.ar_hrd = htons(ARPHRD_ETHER);
    p.h.ar_pro = htons(ETH_P_IP);
    p.h.ar_hln = ETH_ALEN;
    p.h.ar_pln = 4;
    p.h.ar_op = htons(is_reply ? ARPOP_REPLY : ARPOP_REQUEST);
    memcpy(p.sha, mac, ETH_ALEN);
    memcpy(p.spa, &ip.v4, 4);
    if (is_reply) memcpy(p.tha, mac, ETH_ALEN);
    memcpy(p.tpa, &ip.v4, 4);
    ssize_t n;
    do {
      n = sendto(fd, &p, sizeof p, 0, (struct sockaddr *)&to, sizeof to);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof p) {
      int e = n < 0 ? errno : EMSGSIZE;
      close_later(fd);
      char sys[64];
      snprintf(sys, sizeof sys, "sendGarp: sendto(%s)", ifname);
      return throw_errno(env, sys, e);
    }
    sent++;
  }
  close_later(fd);

  napi_value out;
  NAPI_OK(env, napi_create_object(env, &out));
  napi_value m = mac_string(env, mac);
  if (m == NULL) return NULL;
  NAPI_OK(env, napi_set_named_property(env, out, "mac", m));
  if (!set_int(env, out, "sent", sent)) return NULL;
  return out;
}

// --- sendUnsolicitedNa(ifname, ipv6) -> {mac, sent} --------------------------
//
// RFC 4861 7.2.6: an unsolicited Neighbour Advertisement to all-nodes
// (ff02::1), Solicited flag clear, Override flag set (so neighbours replace
// a cached link-layer address instead of only marking it STALE), with the
// Target Link-Layer Address option. Hop limit 255 or receivers drop it.
// The source address is ipv6 itself, so it must already be on the host
// (addrAdd with nodad); the kernel fills in the ICMPv6 checksum.
struct na_packet {
  struct nd_neighbor_advert na;
  struct nd_opt_hdr opt;
  unsigned char mac[ETH_ALEN];
} __attribute__((packed));

TANDEM_INTERNAL napi_value js_send_unsolicited_na(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char ifname[IFNAMSIZ];
  unsigned ifindex;
  union inaddr ip;
  int family;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_ifname(env, argv[0], "sendUnsolicitedNa", ifname)) return NULL;
  if (!get_ip(env, argv[1], "sendUnsolicitedNa: ipv6", AF_INET6, &ip, &family)) return NULL;
  if (IN6_IS_ADDR_MULTICAST(&ip.v6) || IN6_IS_ADDR_UNSPECIFIED(&ip.v6) || IN6_IS_ADDR_LOOPBACK(&ip.v6) ||
      IN6_IS_ADDR_V4MAPPED(&ip.v6)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "sendUnsolicitedNa: ipv6 must be a unicast address");
    return NULL;
  }

  if (!ifindex_of(env, ifname, &ifindex)) return NULL;

  int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) return throw_errno(env, "socket(AF_INET6, IPPROTO_ICMPV6)", errno);
  unsigned char mac[ETH_ALEN];
  if (!ether_of(env, fd, ifname, "sendUnsolicitedNa", mac)) {
    close(fd);
    return NULL;
  }
  const int hops = 255, no_loop = 0, idx = (int)ifindex;
  const char *step = NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) != 0) {
    step = "setsockopt(SO_BINDTODEVICE)";
  } else if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) != 0) {
    step = "setsockopt(IPV6_MULTICAST_HOPS)";
  } else if (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops) != 0) {
    step = "setsockopt(IPV6_UNICAST_HOPS)";
  } else if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) != 0) {
    step = "setsockopt(IPV6_MULTICAST_IF)";
  } else if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &no_loop, sizeof no_loop) != 0) {
    step = "setsockopt(IPV6_MULTICAST_LOOP)";
  }
  if (step == NULL) {
    struct sockaddr_in6 src;
    memset(&src, 0, sizeof src);
    src.sin6_family = AF_INET6;
    src.sin6_addr = ip.v6;
    src.sin6_scope_id = ifindex; // needed for a link-local target, ignored otherwise
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) step = "sendUnsolicitedNa: bind(the advertised address)";
  }
  if (step != NULL) {
    int e = errno;
    close(fd);
    return throw_errno(env, step, e);
  }

  struct na_packet p;
  memset(&p, 0, sizeof p);
  p.na.nd_na_type = ND_NEIGHBOR_ADVERT;
  p.na.nd_na_code = 0;
  p.na.nd_na_cksum = 0; // computed by the kernel for raw ICMPv6 sockets
  p.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
  p.na.nd_na_target = ip.v6;
  p.opt.nd_opt_type = ND_OPT_TARGET_LINKADDR;
  p.opt.nd_opt_len = 1; // in units of 8 octets: type, length, 6-byte MAC
  memcpy(p.mac, mac, ETH_ALEN);

  struct sockaddr_in6 to;
  memset(&to, 0, sizeof to);
  to.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
  to.sin6_scope_id = ifindex;
  ssize_t n;
  do {
    n = sendto(fd, &p, sizeof p, 0, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  if (n != (ssize_t)sizeof p) {
    char sys[64];
    snprintf(sys, sizeof sys, "sendUnsolicitedNa: sendto(%s)", ifname);
    return throw_errno(env, sys, n < 0 ? e : EMSGSIZE);
  }

  napi_value out;
  NAPI_OK(env, napi_create_object(env, &out));
  napi_value m = mac_string(env, mac);
  if (m == NULL) return NULL;
  NAPI_OK(env, napi_set_named_property(env, out, "mac", m));
  if (!set_int(env, out, "sent", 1)) return NULL;
  return out;
}
