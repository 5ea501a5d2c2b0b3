/**
 * A node process's side of moving a node over TCP (docs/design.md "Moving a node"): the move out of its location,
 * the retirement of an old location, a cancelled move, neighbours that moved (relocate), and the fencing of old
 * locations in hellos. The location (node-location.ts) is durable in every commit's bookmark; each change here is
 * committed before it is acted on or answered.
 *
 * - move-out: "moving to D under epoch e+1" is committed, then the node applies nothing more here (its inputs are
 *   not taken: senders keep them for the destination; its neighbours' connections are refused) and answers with its
 *   record sealed for D. Asked again, it answers again (ctl re-runs a move that died half-way).
 * - retire: the destination runs and the neighbours know it: this store is marked an old location and the process
 *   exits; a process started on it later refuses to run.
 * - cancel: the move is given up before the destination ran: the node takes epoch e+2 here (above the move's, so
 *   the destination's record is refused by every neighbour told of it) and exits, to be started again here. Until it
 *   is gone this process stays frozen: the trace has the node down from its move to the restart (crash + restart).
 */
import { NodeMovingError } from "../core/errors.js";
import { failpoint } from "../core/failpoints.js";
import type { NodeId } from "../core/ids.js";
import type { NodeLocationStatus } from "../network/tcp/protocol.js";
import type { StoredRecord } from "../runtime/node-store.js";
import { NodeConfigError } from "./errors.js";
import { HOME, peerEpoch, withPeer, type LocationState } from "./node-location.js";
import { sealNodeRecord, type NodeRecordFile, type RecordHeader } from "./node-record-file.js";

/** What the daemon gives its moves. */
export interface MovePort {
  readonly id: NodeId;
  /** Where this process runs. */
  readonly address: string;
  /** Trace the node's leaving (before the commit that makes it durable). */
  traceMove(to: string, locationEpoch: number): void;
  /** Commit now, with a snapshot if the node can take one: the location changed. */
  commitNow(): void;
  /** Everything committed (after commitNow). */
  record(): StoredRecord;
  /** Version, epoch and retired versions now (the location epoch is the move's). */
  header(): Omit<RecordHeader, "locationEpoch">;
  /** The cluster's CA and this node's certificate and key (PEM), or an error saying what is missing. */
  keys(): { readonly ca: string; readonly cert: string; readonly key: string };
  /** The update this node takes part in, if any (a move waits for it, unless it is halted). */
  update(): number | undefined;
  /** The update this node coordinates as its root, not ended yet (its coordinator's journal stays with the store). */
  coordinating(): number | undefined;
  /** Neighbour `peer` is dialled at `address` from now on; false: it is no neighbour of this node. */
  redirect(peer: NodeId, address: string): boolean;
  /** Where neighbour `peer` is dialled now. */
  addressOf(peer: NodeId): string | undefined;
  /** Commit soon (after the current input): a neighbour's newer location was learnt. */
  commitSoon(): void;
  /** Close every connection to a neighbour (they are refused while the node is moving). */
  sever(): void;
  /** Stop this process (after the reply has left). */
  exit(): void;
  log(line: string): void;
}

export class NodeMoves {
  /** A cancelled move: this process exits, and applies nothing more meanwhile (its restart serves, epoch e+2). */
  private leaving = false;

  constructor(
    private readonly port: MovePort,
    private loc: LocationState = HOME,
  ) {}

  get location(): LocationState {
    return this.loc;
  }

  /** A move out of here was committed (or given up, and this process exits): nothing more is applied here. */
  get frozen(): boolean {
    return this.leaving || this.loc.moving !== undefined || this.loc.moved !== undefined;
  }

  /** Why a request cannot run here (the node moves or moved, or stops to be started again here), or undefined. */
  refusal(operation: string): Error | undefined {
    const away = this.loc.moving ?? this.loc.moved ?? (this.leaving ? { address: this.port.address } : undefined);
    return away === undefined ? undefined : new NodeMovingError(this.port.id, away.address, operation);
  }

  moveOut(address: string, halted?: number): NodeRecordFile {
    const me = this.port.id;
    const keys = this.port.keys();
    if (this.loc.moved !== undefined) throw new NodeConfigError(`move-out: node "${me}" moved to ${this.loc.moved.address} already (location epoch ${this.loc.moved.epoch}); this process is its old location`);
    const moving = this.loc.moving;
    if (moving !== undefined && moving.address !== address) {
      throw new NodeConfigError(`move-out: node "${me}" is moving to ${moving.address} already; finish that move (run \`ctl move ${me} --address ${moving.address}\` again) or give it up (\`ctl move ${me} --cancel\`)`);
    }
    if (moving === undefined) {
      const root = this.port.coordinating();
      if (root !== undefined) throw new NodeConfigError(`move-out: node "${me}" is the root of update #${root}, which has not ended, and its coordinator's journal stays in this store; move it once the update ended (\`ctl watch\`)`);
      const u = this.port.update();
      if (u !== undefined && u !== halted) throw new NodeConfigError(`move-out: node "${me}" takes part in update #${u}, which runs; a node moves while no update runs or while its update is halted (\`ctl watch\`)`);
      // What ran before is committed (and traced) first: the move follows every step the record holds.
      this.port.commitNow();
      this.loc = { ...this.loc, moving: { address, epoch: this.loc.epoch + 1 } };
      this.port.traceMove(address, this.loc.epoch + 1);
      this.port.commitNow();
      failpoint("move.after-moving-commit");
      this.port.sever();
      this.port.log(`node "${me}": moving to ${address} (location epoch ${this.loc.epoch + 1}); it applies nothing more here`);
    }
    const to = this.loc.moving as { address: string; epoch: number };
    const sealed = { epoch: to.epoch, arrivedFrom: this.port.address, ...(this.loc.peers !== undefined ? { peers: this.loc.peers } : {}) };
    return sealNodeRecord(this.port.record(), { ...this.port.header(), locationEpoch: to.epoch }, keys, new Date(), sealed);
  }

  retire(): void {
    const moving = this.loc.moving;
    if (moving === undefined) {
      if (this.loc.moved !== undefined) return this.port.exit();
      throw new NodeConfigError(`move-retire: node "${this.port.id}" is not moving; \`ctl move\` moves it`);
    }
    this.loc = { epoch: this.loc.epoch, moved: moving, ...(this.loc.peers !== undefined ? { peers: this.loc.peers } : {}) };
    this.port.commitNow();
    this.port.log(`node "${this.port.id}": moved to ${moved(this.loc).address} (location epoch ${moved(this.loc).epoch}); this old location stops for good`);
    this.port.exit();
  }

  cancel(): void {
    const moving = this.loc.moving;
    if (moving === undefined) throw new NodeConfigError(`move-cancel: node "${this.port.id}" is not moving${this.loc.moved !== undefined ? ` (it moved to ${this.loc.moved.address}: that move is done)` : ""}`);
    this.loc = { epoch: moving.epoch + 1, ...(this.loc.peers !== undefined ? { peers: this.loc.peers } : {}) };
    // Not home yet: until this process is gone (exit() stops it a turn later, after the reply), a neighbour's hello
    // or frames taken here would be steps of the node between its move and its restart, where the trace has it down.
    this.leaving = true;
    this.port.commitNow();
    this.port.log(`node "${this.port.id}": its move to ${moving.address} is given up; it stays here under location epoch ${this.loc.epoch}, and stops to be started again`);
    this.port.exit();
  }

  relocate(peer: NodeId, address: string, epoch: number): void {
    // Moving away, this process's links are the record's: the destination must hear it (ctl retries it there).
    if (this.frozen) throw new NodeConfigError(`relocate: node "${this.port.id}" is moving; tell it at its new location`);
    const known = peerEpoch(this.loc, peer);
    if (epoch < known) throw new NodeConfigError(`relocate: node "${peer}" is at location epoch ${known} already, past ${epoch}`);
    if (!this.port.redirect(peer, address)) throw new NodeConfigError(`relocate: "${peer}" is not a neighbour of node "${this.port.id}"`);
    // At an epoch already learnt from a hello the address is news: it is kept whatever was known.
    this.loc = { ...this.loc, peers: { ...this.loc.peers, [peer]: { address, epoch } } };
    this.port.commitNow();
  }

  /** A neighbour's hello at location epoch `loc`: the reason to refuse it for good, if it comes from an old location. */
  fence(peer: NodeId, loc: number): string | undefined {
    const known = this.loc.peers?.[peer];
    if (loc > (known?.epoch ?? 0)) {
      // A newer location of the neighbour than any known: remembered (durably), so older ones are refused from now on.
      // Its hello says the epoch, not where it listens: the address is a guess until ctl's relocate says (status leaves it out).
      this.loc = withPeer(this.loc, peer, { address: this.port.addressOf(peer) ?? known?.address ?? "", epoch: loc, guessed: true });
      this.port.commitSoon();
      return undefined;
    }
    if (known === undefined || loc >= known.epoch) return undefined;
    return `node "${peer}" moved to ${known.address} (location epoch ${known.epoch}); this process is an older location of it (epoch ${loc}) and must not serve again`;
  }

  /** What `ctl status` shows: with the neighbours that moved, so a client without ctl's address book finds them (cluster-client.ts). */
  status(): NodeLocationStatus {
    const l = this.loc;
    const peers = Object.entries(l.peers ?? {}).filter(([, p]) => p.guessed !== true);
    return {
      epoch: l.epoch,
      ...(l.moving !== undefined ? { moving: l.moving } : {}),
      ...(l.moved !== undefined ? { moved: l.moved } : {}),
      ...(peers.length > 0 ? { peers: Object.fromEntries(peers.map(([id, p]) => [id, { address: p.address, epoch: p.epoch }])) } : {}),
    };
  }
}

const moved = (l: LocationState): { address: string; epoch: number } => l.moved as { address: string; epoch: number };
