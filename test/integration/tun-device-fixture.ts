/** What tun-device-scenario.ts does and reports, shared with tun-device.test.ts (which must not import the scenario: it runs on import). */
export const ADDRESS = "100.64.0.1";
export const PEER = "100.64.0.2";
export const ROUTE = "10.99.0.0/24";
export const ROUTE6 = "fd99::/64";
export const TARGET = "10.99.0.5";
export const TARGET_PORT = 9999;
/** Routed through lo before a second open, which also asks for FIRST_ROUTE: that one must be rolled back. */
export const CONFLICT = "10.98.0.0/24";
export const FIRST_ROUTE = "10.97.0.0/24";
export const BURST = { rounds: 10, perRound: 100, size: 1200 };

export interface Report {
  name: string;
  link: { mtu: number; flags: string[]; operstate: string };
  addresses: { local: string; address?: string; prefixlen: number }[];
  routes: string[];
  routes6: string[];
  received: { source: string; destination: string; protocol: number; sourcePort: number; destinationPort: number; data: string };
  written: boolean;
  reply: { data: string; address: string; port: number };
  garbageWritten: boolean;
  burst: { packets: number; bytes: number; ms: number };
  stats: Record<string, number>;
  after: { links: string[]; routes: string[]; routes6: string[]; addresses: string[] };
  closeMs: number;
  secondClose: string;
  conflict: { code: string | undefined; message: string; links: string[]; routes: string[] };
  error?: string;
}

