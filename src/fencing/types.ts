// The contract between the pure fencing core (core/fencing.ts) and the
// adapters that run real tools (fencing/*.ts). The core decides *when* and
// *whom* to fence; an adapter only carries out one attempt and reports.

export type FenceAction = "off" | "reboot";

export interface FenceResult {
  ok: boolean;
  /** which device answered last (its agent name), "" if none was tried */
  device: string;
  /** one line for status and the log: exit code, agent output tail, timeout */
  detail: string;
  duration_ms: number;
}

/**
 * Fences nodes with the configured devices. `fence()` tries each device for
 * the node in config order until one succeeds; it never throws and always
 * settles within the configured fence_timeout_ms (children are killed).
 * "manual" devices never succeed by themselves: they report
 * ok=false, detail "waiting for `tandem fence-confirm NODE`".
 */
export interface Fencer {
  /** node names this fencer has at least one device for */
  canFence(node: string): boolean;
  fence(node: string, action: FenceAction): Promise<FenceResult>;
  /**
   * Read-only power status of `node` (never an off): the first fence-agents
   * device for it answers action=status. off=null when unknown (no such
   * device, an error, a timeout). Never throws; settles within
   * status_timeout_ms; one call per node at a time (a second caller shares it).
   */
  powerStatus(node: string): Promise<PowerStatus>;
}

export interface PowerStatus {
  off: boolean | null;
  /** one line: device, exit code, output tail or why unknown */
  detail: string;
  duration_ms: number;
}
