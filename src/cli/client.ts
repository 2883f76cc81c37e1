// The CLI side of the control socket: one JSON request, one JSON reply.
import net from "node:net";

export const request_timeout_ms = 5_000;
/** A reply larger than this is refused (status of a big cluster is a few KiB). */
export const reply_bytes_max = 4 * 1024 * 1024;

export class ControlClientError extends Error {
  override name = "ControlClientError";
}

// biome-ignore lint: replies are checked by each caller
export function request(path: string, req: object, timeout_ms = request_timeout_ms): Promise<any> {
  return new Promise((resolve, reject) => {
    const c = net.connect(path);
    let buf = "";
    let settled = false;
    const finish = (err: Error | null, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      c.destroy();
      err ? reject(err) : resolve(value);
    };
    const timer = setTimeout(
      () => finish(new ControlClientError(`no answer from the daemon on ${path} within ${timeout_ms} ms`)),
      timeout_ms,
    );
    c.setEncoding("utf8");
    c.on("connect", () => c.write(`${JSON.stringify(req)}\n`));
    c.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > reply_bytes_max) return finish(new ControlClientError("reply too large"));
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      try {
        finish(null, JSON.parse(buf.slice(0, nl)));
      } catch {
        finish(new ControlClientError("the daemon sent a reply that is not JSON"));
      }
    });
    c.on("end", () => finish(new ControlClientError(`the daemon on ${path} closed the connection without answering`)));
    c.on("error", (e: NodeJS.ErrnoException) => finish(new ControlClientError(explain(path, e), { cause: e })));
  });
}

function explain(path: string, e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case "ENOENT":
    case "ECONNREFUSED":
      return `no tandem daemon is listening on ${path} (is it running? \`systemctl status tandem\`; or pass --socket PATH)`;
    case "EACCES":
    case "EPERM":
      return `permission denied on ${path}: run as root`;
    default:
      return `cannot reach the daemon on ${path}: ${e.message}`;
  }
}
