// A heartbeat medium as the daemon sees it: best-effort datagrams out to
// every peer on the medium, and authenticated-or-not bytes in, tagged with
// the link they arrived on. UDP and (later) serial implement it; the
// simulator has its own in-memory network and does not need it.

export interface LinkStats {
  tx_packets: number;
  tx_errors: number;
  rx_packets: number;
  /** ICMP errors and other socket errors reported asynchronously */
  socket_errors: number;
  last_error: string | null;
}

export interface Link {
  /** the ha.cf directive, normalised (`ucast eth0 192.0.2.2`) */
  readonly name: string;
  /** best effort: never throws, never blocks; failures are counted */
  send(frame: Uint8Array): void;
  stats(): LinkStats;
  close(): void;
}

export type OnDatagram = (link: string, bytes: Uint8Array) => void;

export function emptyStats(): LinkStats {
  return { tx_packets: 0, tx_errors: 0, rx_packets: 0, socket_errors: 0, last_error: null };
}
