/**
 * Binds each MQTT client id to the principal that uses it.
 *
 * aedes keys sessions by client id, and the client picks its id: a second CONNECT with
 * the same id takes over the first connection, and with CleanSession=0 inherits its
 * queued messages. Without this, a gateway could knock the cloud offline, or try to pick
 * up another school's queued commands, just by reusing a client id. So an id stays bound
 * to one principal while any connection holds it and, after a non-clean session, for as
 * long as the broker may keep that session; the same principal may always reconnect.
 */
import type { Client } from 'aedes';

interface Binding {
  username: string;
  /** Authenticated connections using this id (a takeover briefly has two). */
  live: Set<Client>;
  /** The latest connection asked to keep its session after it leaves. */
  keepsSession: boolean;
}

export class ClientIdRegistry {
  private readonly bindings = new Map<string, Binding>();

  /** The username holding `clientId`, if any. */
  ownerOf(clientId: string): string | undefined {
    return this.bindings.get(clientId)?.username;
  }

  /**
   * Claim the client's id for `username`. Returns false, and changes nothing, when
   * another principal holds it. The claim is released when the connection closes.
   */
  claim(client: Client, username: string): boolean {
    const existing = this.bindings.get(client.id);
    if (existing && existing.username !== username) return false;
    const binding = existing ?? { username, live: new Set<Client>(), keepsSession: false };
    binding.live.add(client);
    binding.keepsSession = !client.clean;
    this.bindings.set(client.id, binding);
    client.conn.once('close', () => this.release(client));
    return true;
  }

  private release(client: Client): void {
    const binding = this.bindings.get(client.id);
    if (!binding) return;
    binding.live.delete(client);
    // A clean session ends with its connection, so nobody owns the id any more.
    if (binding.live.size === 0 && !binding.keepsSession) this.bindings.delete(client.id);
  }
}
