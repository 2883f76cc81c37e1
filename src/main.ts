// tandem: one executable, daemon and admin CLI.
// Commands are imported on demand: the daemon runs for months and should
// not carry the lab's, the checker's or the CLI's code in its heap.

export const tandem_version = "0.1.0";

const usage = `usage: tandem COMMAND [options]
commands:
  daemon    run the cluster daemon in the foreground (systemd style)
  status    show this node's view of the cluster (--json for scripts, --watch to follow it)
  events    the cluster's history: deaths, takeovers, fencing, failures (--follow, --json, --since)
  standby   give this node's groups to the peer: standby [all|local|foreign|none]
  takeover  take groups from the peer: takeover [all|local|foreign|none]
  fence-confirm  NODE is powered off (checked by hand): its groups may start
  drbd-fence-peer  DRBD's fence-peer handler: peer dead and fenced (7), dead (5), alive: outdated through its daemon (4)
  drbd-split-brain DRBD's split-brain handler: reports the split brain to the daemon (status, log)
  fence     fence a node now with ha.cf's fence devices, without the daemon (tests the setup)
  check     validate /etc/ha.d (ha.cf, authkeys) and print file:line problems
  export    export pacemaker: print a pcs script that builds this cluster in Pacemaker
  config    config push: copy /etc/ha.d to the peer's daemon (authenticated), after a diff
  lab       build a throw-away two-node cluster in network namespaces and show a failover
  version   print the version
run \`tandem COMMAND --help\` for a command's options`;

const out = {
  stdout: (s: string) => process.stdout.write(s),
  stderr: (s: string) => process.stderr.write(s),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "daemon":
      // mimalloc options (src/daemon/allocator.ts): may re-exec this process
      await (await import("./daemon/allocator.ts")).execWithAllocatorOptions();
      return (await import("./daemon/daemon.ts")).runDaemon(rest);
    case "status":
      return (await import("./cli/status.ts")).runStatus(rest, out);
    case "events":
      return (await import("./cli/events.ts")).runEvents(rest, out);
    case "standby":
    case "takeover":
      return (await import("./cli/admin.ts")).runAdmin(cmd, rest, out);
    case "fence-confirm":
      return (await import("./cli/admin.ts")).runFenceConfirm(rest, out);
    case "fence":
      return (await import("./cli/fence.ts")).runFence(rest, out);
    case "drbd-fence-peer":
    case "drbd-split-brain":
      return (await import("./cli/drbd.ts")).runDrbdHandler(cmd === "drbd-fence-peer" ? "fence-peer" : "split-brain", rest, out);
    case "check":
      return (await import("./cli/check.ts")).runCheck(rest, out);
    case "config":
      return (await import("./cli/config_push.ts")).runConfig(rest, out);
    case "export":
      return (await import("./cli/export.ts")).runExport(rest, out);
    case "lab":
      return (await import("./lab/lab.ts")).runLab(rest, out);
    case "version":
    case "--version": {
      let addon: string;
      try {
        addon = (await import("./native/addon.ts")).native.version();
      } catch (e) {
        addon = `unavailable: ${(e as Error).message}`;
      }
      out.stdout(`tandem ${tandem_version} (addon ${addon})\n`);
      return 0;
    }
    case "help":
    case "--help":
    case "-h":
      out.stdout(`${usage}\n`);
      return 0;
    default:
      out.stderr(`${cmd === undefined ? "tandem: no command given" : `tandem: unknown command ${JSON.stringify(cmd)}`}\n${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`tandem: internal error: ${(e as Error)?.stack ?? e}\n`);
    process.exit(70);
  },
);
