/**
 * `ctl move ID --address HOST:PORT` (docs/design.md "Moving a node"): node ID continues at another address with its
 * identity, links, version and everything it committed. Each step is committed where it happens before the next
 * begins, and running the command again after any failure (ctl, the source or the destination killed) picks it up
 * where it stands:
 *
 * 1. The source commits "moving to D under location epoch e+1", applies nothing more, and hands over its record
 *    (refused during an update, or while a neighbour does not answer: every neighbour must learn the new address).
 * 2. The destination starts from the record (on this machine, under `--store`), or from its own store when it had
 *    imported it before dying; ctl's address book (cluster-locations.ts) points at it.
 * 3. Every neighbour is told (relocate, durable): it dials D, resends what ID has not applied, and refuses ID's old
 *    location for good. 4. The source is retired: its store marks it an old location that never runs again.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { MoveRefusedError, describeError } from "../core/errors.js";
import { failpoint } from "../core/failpoints.js";
import type { NodeId } from "../core/ids.js";
import type { NodeStatus } from "../network/tcp/protocol.js";
import { ClusterClient } from "./cluster-client.js";
import type { Cluster } from "./cluster-file.js";
import { atAddress, holdsRecord, readLocations, writeLocation } from "./cluster-locations.js";
import { clusterUp, type StartedNode } from "./cluster-processes.js";
import type { NodeRecordFile } from "./node-record-file.js";

export interface MoveOptions {
  /** The destination's address. */
  readonly to: string;
  /** Where the destination keeps its store (DIR/ID); default: beside the cluster file, named after the move. */
  readonly store?: string;
  /** Where the destination binds, when it is dialled at `to` through a proxy or NAT (default `to`). */
  readonly listen?: string;
  /** A command the destination's process runs under on this machine (`ip netns exec NS`: liveswap chaos). */
  readonly prefix?: readonly string[];
  /** Start the destination process on this machine (default true); false: print how, and stop after step 1. */
  readonly start?: boolean;
  readonly timeoutMs?: number;
  /** The destination outlives this process (the CLI's); tests keep it attached to stop it. */
  readonly detached?: boolean;
  readonly log?: (line: string) => void;
}

export interface MoveOutcome {
  readonly node: NodeId;
  readonly from: string;
  readonly to: string;
  readonly locationEpoch: number;
  /** The destination process this command started, if it started one. */
  readonly started?: StartedNode;
  /** The record the source handed over (kept beside the cluster file). */
  readonly recordFile: string;
  /** false: the destination is to be started by hand (`start: false`); run the command again once it runs. */
  readonly done: boolean;
}

const movesDir = (cluster: Cluster): string => join(dirname(cluster.file), ".liveswap-moves");

export async function moveNode(cluster: Cluster, id: NodeId, opts: MoveOptions): Promise<MoveOutcome> {
  const log = opts.log ?? (() => undefined);
  const home = cluster.nodes.find((n) => n.id === id);
  if (home === undefined) throw new MoveRefusedError(id, `${cluster.file} has no node "${id}"`);
  if (cluster.transport !== undefined) {
    throw new MoveRefusedError(id, `the cluster's transport is NATS, where a node is reached by its id wherever it runs: there is no address to move. Stop it (\`cluster down\` on its host, or kill it) and start it on the other host with its store (or \`ctl export ${id}\` there and \`liveswap node --import\`)`);
  }
  const entry = readLocations(cluster)[id];
  // The same move run again (after ctl, the source or the destination died): it goes on from where it stands.
  const resumed = entry !== undefined && entry.address === opts.to && entry.from !== undefined ? entry : undefined;
  // A re-run keeps where the destination binds unless told again.
  const listen = opts.listen ?? resumed?.listen;
  if (listen !== undefined) opts = { ...opts, listen };
  let from = resumed?.from ?? entry?.address ?? (await whereIs(cluster, id));
  let source = clientAt(cluster, id, from, opts.timeoutMs);
  let here = await statusAt(source, id);
  if (here === undefined && resumed === undefined && entry !== undefined) {
    // Not where this machine's address book says: another ctl may have moved it since; its neighbours know.
    const found = await whereIs(cluster, id);
    if (found !== from) {
      source.close();
      [from, source] = [found, clientAt(cluster, id, found, opts.timeoutMs)];
      here = await statusAt(source, id);
    }
  }
  try {
    if (from === opts.to) throw new MoveRefusedError(id, `it is at ${opts.to} already`);
    if (here === undefined || here.location?.moved !== undefined) {
      if (resumed === undefined) throw new MoveRefusedError(id, `it does not answer at ${from}; a node moves from a running process`);
      // The source handed its record over and is gone or retired: finish at the destination.
      return await finish(cluster, id, opts, resumed.locationEpoch, from, undefined, log);
    }
    const halted = here.location?.moving === undefined ? await assertMovable(source, here) : undefined;
    const record = (await source.command(id, { kind: "move-out", address: opts.to, ...(halted !== undefined ? { halted } : {}) })) as NodeRecordFile;
    const recordFile = keep(cluster, record);
    log(`${id}: moving from ${from} to ${opts.to} (location epoch ${record.locationEpoch}); its record is in ${recordFile}`);
    const store = resolve(opts.store ?? resumed?.store ?? join(movesDir(cluster), `${id}-${record.locationEpoch}-store`));
    // Where it moves from is kept whole (address, store, bind address): a cancelled move puts the node back there.
    const back = resumed !== undefined ? { fromStore: resumed.fromStore, fromListen: resumed.fromListen } : { fromStore: entry?.store, fromListen: entry?.listen };
    writeLocation(cluster, id, {
      address: opts.to,
      locationEpoch: record.locationEpoch,
      store,
      from,
      ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
      ...(back.fromStore !== undefined ? { fromStore: back.fromStore } : {}),
      ...(back.fromListen !== undefined ? { fromListen: back.fromListen } : {}),
    });
    return await finish(cluster, id, opts, record.locationEpoch, from, source, log);
  } finally {
    source.close();
  }
}

/** Steps 2 to 4: the destination running, every neighbour told, the source retired. */
async function finish(cluster: Cluster, id: NodeId, opts: MoveOptions, epoch: number, from: string, source: ClusterClient | undefined, log: (l: string) => void): Promise<MoveOutcome> {
  const recordFile = join(movesDir(cluster), `${id}-${epoch}.record.json`);
  const store = readLocations(cluster)[id]?.store ?? resolve(join(movesDir(cluster), `${id}-${epoch}-store`));
  const dest = clientAt(cluster, id, opts.to, opts.timeoutMs, store);
  try {
    let running = await statusAt(dest, id);
    let started: StartedNode | undefined;
    if (running === undefined) {
      if (opts.start === false) {
        log(`${id}: start it at ${opts.to}: liveswap node --cluster ${cluster.file} --id ${id} --import ${recordFile} --address ${opts.to}${opts.listen !== undefined ? ` --listen ${opts.listen}` : ""} --store DIR; then run this command again`);
        return { node: id, from, to: opts.to, locationEpoch: epoch, recordFile, done: false };
      }
      started = await startDestination(cluster, id, { ...opts, store }, recordFile);
      running = await dest.status(id);
    }
    try {
      failpoint("ctl.move-started");
      await relocate(dest, running.neighbors.map((n) => n.id), id, opts.to, epoch, `ctl move ${id} --address ${opts.to}${opts.listen !== undefined ? ` --listen ${opts.listen}` : ""}`);
      failpoint("ctl.move-relocated");
    } catch (e) {
      // A destination attached to this process (a test's, the chaos harness's) would be left to nobody: it stops, and
      // a re-run starts it again from its own store. The CLI's is detached and runs on, as the move says.
      if (started !== undefined && opts.detached !== true) started.child.kill("SIGTERM");
      throw e;
    }
    if (source !== undefined) {
      await source.command(id, { kind: "move-retire" }).catch((e: unknown) => log(`${id}: the old location did not take its retirement (${describeError(e)}); its store says it is moving, so it serves nothing if started again`));
    }
    log(`${id}: runs at ${opts.to}; its neighbours dial it there and refuse its old location`);
    return { node: id, from, to: opts.to, locationEpoch: epoch, recordFile, done: true, ...(started !== undefined ? { started } : {}) };
  } finally {
    dest.close();
  }
}

/**
 * Where node `id` runs, for a ctl whose address book does not know it (on another machine than the ctl that moved it):
 * its neighbours' statuses say where it went; the cluster file's address when nobody knows better.
 */
async function whereIs(cluster: Cluster, id: NodeId): Promise<string> {
  const client = new ClusterClient(cluster);
  try {
    await client.statusAll({ timeoutMs: 10_000 });
    return client.cluster.nodes.find((n) => n.id === id)?.address ?? "";
  } finally {
    client.close();
  }
}

/** A client that talks to node `id` at `address` (one of its locations), and to the others where they are now. */
function clientAt(cluster: Cluster, id: NodeId, address: string, timeoutMs: number | undefined, store?: string): ClusterClient {
  // Node `id` is pinned at the location asked about; its neighbours are found wherever they went (the book, their statuses).
  return new ClusterClient(atAddress(cluster, id, address, store), { pin: id, commandTimeoutMs: timeoutMs ?? 10_000 });
}

async function statusAt(client: ClusterClient, id: NodeId): Promise<NodeStatus | undefined> {
  try {
    return await client.status(id, { timeoutMs: 10_000 });
  } catch {
    return undefined;
  }
}

/**
 * No update running at the node (one halted at its root does not block a move: draining a host must stay possible),
 * none it coordinates, every neighbour answering (each must learn the new address). Resolves with the halted update's
 * id the node may move in, if any.
 */
async function assertMovable(client: ClusterClient, st: NodeStatus): Promise<number | undefined> {
  const own = await client.updateView(st.id).catch(() => null);
  if (own !== null && own.root === st.id && !ENDED.has(own.phase)) {
    throw new MoveRefusedError(st.id, `it is the root of update #${own.id} (${own.phase}), and a root's coordinator stays with its store; move it once that update ended (\`ctl watch\`, \`ctl resume\`)`);
  }
  const halted = st.update !== null ? await haltedUpdate(client, st.id, st.update) : undefined;
  const silent: string[] = [];
  await Promise.all(st.neighbors.map((n) => client.status(n.id, { timeoutMs: 15_000 }).catch(() => silent.push(n.id))));
  if (silent.length > 0) throw new MoveRefusedError(st.id, `its neighbour(s) ${silent.sort().map((n) => `"${n}"`).join(", ")} do not answer, and every neighbour must learn the new address; bring them back (or forget them) first`);
  return halted;
}

/** The node's update is halted at its root (its id, which the node then accepts), or why the move waits. */
async function haltedUpdate(client: ClusterClient, id: NodeId, u: NonNullable<NodeStatus["update"]>): Promise<number> {
  const root = u.root;
  const view = root === undefined ? undefined : await client.updateView(root).catch(() => undefined);
  if (view === undefined) throw new MoveRefusedError(id, `it takes part in update #${u.id}, and its root${root !== undefined ? ` "${root}"` : ""} does not answer to say whether it is halted; bring the root back (\`ctl status\`), then move`);
  if (view?.id === u.id && view.phase === "halted") return view.id;
  if (view?.id === u.id && ENDED.has(view.phase)) throw new MoveRefusedError(id, `update #${u.id} ${view.phase} at its root, and the node has not heard its end yet; retry in a moment`);
  throw new MoveRefusedError(id, `it takes part in update #${u.id}, which runs${view?.id === u.id ? ` (${view.phase})` : ""}; a node moves while no update runs or while its update is halted (\`ctl watch\`)`);
}

/** The phases of an update that is over at its root. */
const ENDED: ReadonlySet<string> = new Set(["completed", "aborted", "failed"]);

function keep(cluster: Cluster, record: NodeRecordFile): string {
  mkdirSync(movesDir(cluster), { recursive: true });
  const file = join(movesDir(cluster), `${record.node}-${record.locationEpoch}.record.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

/** The destination on this machine: from its own store if it imported the record before, else from the record. */
async function startDestination(cluster: Cluster, id: NodeId, opts: MoveOptions & { readonly store: string }, recordFile: string): Promise<StartedNode | undefined> {
  const { to, store, listen, prefix } = opts;
  const args = ["--address", to, ...(listen !== undefined ? ["--listen", listen] : []), "--store", store, ...(holdsRecord(join(store, id)) ? [] : ["--import", recordFile])];
  const [started] = await clusterUp(atAddress(cluster, id, to, store, listen), {
    only: [id],
    args: () => args,
    timeoutMs: opts.timeoutMs ?? 60_000,
    moving: true,
    ...(opts.detached === true ? { detached: true } : {}),
    ...(prefix !== undefined ? { prefix: () => prefix } : {}),
  });
  return started;
}

/** Every neighbour dials the node at its new address and refuses older locations (each one durably). */
async function relocate(client: ClusterClient, neighbors: readonly NodeId[], id: NodeId, to: string, epoch: number, rerun: string): Promise<void> {
  const untold: string[] = [];
  await Promise.all(neighbors.map((n) => client.command(n, { kind: "relocate", peer: id, address: to, locationEpoch: epoch }).catch((e: unknown) => untold.push(`"${n}" (${describeError(e)})`))));
  if (untold.length > 0) {
    throw new MoveRefusedError(id, `it runs at ${to}, but its neighbour(s) ${untold.sort().join(", ")} were not told; run \`${rerun}\` again once they answer`);
  }
}

/**
 * `ctl move ID --cancel`: give up a move whose destination never ran (its machine is gone, its process cannot
 * start). The source takes location epoch e+2 where it is (above the move's e+1, so the destination's record is
 * refused by any neighbour that hears it), its neighbours are told to dial it there, and it is started again (on
 * this machine, when it is at the cluster file's own address and store). Refused when the destination runs: move it
 * back instead.
 */
export async function cancelMove(cluster: Cluster, id: NodeId, opts: { readonly timeoutMs?: number; readonly log?: (line: string) => void } = {}): Promise<{ readonly at: string; readonly locationEpoch: number; readonly started?: StartedNode }> {
  const log = opts.log ?? (() => undefined);
  const home = cluster.nodes.find((n) => n.id === id);
  if (home === undefined) throw new MoveRefusedError(id, `${cluster.file} has no node "${id}"`);
  const entry = readLocations(cluster)[id];
  const from = entry?.from ?? entry?.address ?? home.address;
  const source = clientAt(cluster, id, from, opts.timeoutMs);
  try {
    const here = await statusAt(source, id);
    if (here === undefined) throw new MoveRefusedError(id, `its source does not answer at ${from}; start it there (it serves nothing while it is moving), then cancel again`);
    const moving = here.location?.moving;
    if (moving === undefined) throw new MoveRefusedError(id, here.location?.moved !== undefined ? `its move to ${here.location.moved.address} is done; move it back instead (\`ctl move ${id} --address ${from}\`)` : `it is not moving`);
    const dest = clientAt(cluster, id, moving.address, opts.timeoutMs);
    const there = await statusAt(dest, id).finally(() => dest.close());
    if (there !== undefined) throw new MoveRefusedError(id, `its destination runs at ${moving.address}; move it back instead (\`ctl move ${id} --address ${from}\`)`);
    await source.command(id, { kind: "move-cancel" });
    const epoch = moving.epoch + 1;
    writeLocation(cluster, id, from === home.address ? undefined : { address: from, locationEpoch: epoch, ...(entry?.fromStore !== undefined ? { store: entry.fromStore } : {}), ...(entry?.fromListen !== undefined ? { listen: entry.fromListen } : {}) });
    await relocate(source, here.neighbors.map((n) => n.id), id, from, epoch, `ctl move ${id} --cancel`);
    log(`${id}: its move to ${moving.address} is given up; it stays at ${from} under location epoch ${epoch}`);
    if (from !== home.address) {
      log(`${id}: start it again at ${from} (liveswap node --cluster ${cluster.file} --id ${id} --address ${from} --store DIR)`);
      return { at: from, locationEpoch: epoch };
    }
    await waitGone(source, id);
    const [started] = await clusterUp(cluster, { only: [id], moving: true, timeoutMs: opts.timeoutMs ?? 60_000 });
    return { at: from, locationEpoch: epoch, ...(started !== undefined ? { started } : {}) };
  } finally {
    source.close();
  }
}

/** Until the process that took a cancel has exited (it answers no more), bounded. */
async function waitGone(client: ClusterClient, id: NodeId): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await statusAt(client, id)) === undefined) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
