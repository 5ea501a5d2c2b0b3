import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { failpoint } from "../core/failpoints.js";
import type { CoordinatorInput, CoordinatorJournal } from "../runtime/coordinator-host.js";
import { jsonCodec } from "../network/tcp/codec.js";
import type { UpdateView } from "../network/tcp/protocol.js";

/**
 * The root's coordinator journal over TCP: one JSON line per input in the node's store directory, each fsynced
 * before the input runs (inputs are few: a handful per node per update). A torn last line (a crash inside a
 * write) is an input that never ran: it is ignored, and cut away by the next append.
 */
export class FileJournal implements CoordinatorJournal {
  private readonly path: string;
  private fd: number | undefined;

  constructor(dir: string) {
    this.path = join(dir, "coordinator-journal.ndjson");
  }

  load(): readonly CoordinatorInput[] {
    if (!existsSync(this.path)) return [];
    const out: CoordinatorInput[] = [];
    for (const line of readFileSync(this.path, "utf8").split("\n")) {
      if (line === "") continue;
      try {
        out.push(jsonCodec.decode(Buffer.from(line, "utf8")) as CoordinatorInput);
      } catch {
        break; // the torn tail of a crash
      }
    }
    // Rewrite what was read whole, so a torn tail never sits before the next append.
    this.rewrite(out);
    return out;
  }

  append(input: CoordinatorInput): void {
    const fd = this.open();
    writeSync(fd, Buffer.concat([jsonCodec.encode(input), Buffer.from("\n")]));
    fsyncSync(fd);
    failpoint("coordinator.after-journal");
  }

  clear(): void {
    const fd = this.open();
    ftruncateSync(fd, 0);
    fsyncSync(fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): number {
    this.fd ??= openSync(this.path, "a");
    return this.fd;
  }

  private rewrite(inputs: readonly CoordinatorInput[]): void {
    this.close();
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, inputs.map((i) => `${jsonCodec.encode(i).toString("utf8")}\n`).join(""));
    const fd = openSync(tmp, "r+");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
  }
}

/** The last update a root coordinated, kept beside its journal: `ctl watch` of an update that ended while the root was down. */
export function saveLastView(dir: string, view: UpdateView): void {
  const path = join(dir, "coordinator-last.json");
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, jsonCodec.encode(view));
  const fd = openSync(tmp, "r+");
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}

export function loadLastView(dir: string): UpdateView | undefined {
  const path = join(dir, "coordinator-last.json");
  if (!existsSync(path)) return undefined;
  try {
    return jsonCodec.decode(readFileSync(path)) as UpdateView;
  } catch {
    return undefined;
  }
}
