/**
 * The simulated district's fault switchboard: a small HTTP server (127.0.0.1 only) that
 * injects and clears faults in the protocol simulators while the district runs, so an
 * operator can watch a lamp fail or a router reboot reach the dashboard.
 *
 *   GET    /faults                          every device that takes faults, what it takes, what is on
 *   POST   /faults/{deviceId}/{fault}       inject
 *   DELETE /faults/{deviceId}/{fault}       clear one ('all' clears every fault of the device)
 *
 * It is meant for a person at this machine (curl, a script). A web page open in the same
 * machine's browser can also reach 127.0.0.1, and a cross-origin POST needs no preflight:
 * so a request that a browser marks as coming from a page (an Origin header, or
 * Sec-Fetch-Site other than "none") is refused, and so is one whose Host is not loopback
 * (a DNS-rebinding page reaches us under its own name).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultTarget {
  deviceId: string;
  protocol: string;
  faults: readonly string[];
  active(): string[];
  inject(fault: string): Promise<void>;
  clear(fault?: string): Promise<void>;
}

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

export async function startControlServer(targets: Map<string, FaultTarget>, port = 0): Promise<ControlServer> {
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body, null, 2));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return send(res, 403, { error: 'the fault switchboard answers requests to 127.0.0.1 only' });
    const site = req.headers['sec-fetch-site'];
    if (req.headers.origin !== undefined || (site !== undefined && site !== 'none')) {
      return send(res, 403, { error: 'the fault switchboard takes no requests from web pages: use curl or a script' });
    }
    const url = new URL(req.url ?? '/', 'http://control');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'faults' || parts.length > 3) return send(res, 404, { error: 'see GET /faults' });
    if (parts.length === 1) {
      if (req.method !== 'GET') return send(res, 405, { error: 'GET /faults' });
      return send(
        res,
        200,
        [...targets.values()].map((t) => ({ deviceId: t.deviceId, protocol: t.protocol, faults: t.faults, active: t.active() })),
      );
    }
    const target = targets.get(parts[1]!);
    if (!target) return send(res, 404, { error: `no simulated device "${parts[1]}" takes faults` });
    const fault = parts[2];
    if (!fault) return send(res, 200, { deviceId: target.deviceId, protocol: target.protocol, faults: target.faults, active: target.active() });
    if (fault !== 'all' && !target.faults.includes(fault))
      return send(res, 400, { error: `${target.protocol} devices take these faults: ${target.faults.join(', ')}` });
    if (req.method === 'POST' && fault !== 'all') await target.inject(fault);
    else if (req.method === 'DELETE') await target.clear(fault === 'all' ? undefined : fault);
    else return send(res, 405, { error: 'POST to inject, DELETE to clear' });
    return send(res, 200, { deviceId: target.deviceId, active: target.active() });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: (error as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
