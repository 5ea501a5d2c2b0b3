import { describe, expect, it } from "vitest";
import type { PendingRead } from "./db.js";
import { deletePendingRead, emptyPendingReads, getPendingRead, setPendingRead, type PendingReads } from "./pending-reads.js";

const read = (n: number): PendingRead => ({ parent: null, request: null, waiting: [`r${n}`], results: {} });

describe("pending reads (a persistent map in plain data)", () => {
  it("sets, replaces, gets and deletes by id over many ids, counting them, and never changes an earlier value", () => {
    let p = emptyPendingReads();
    const history: PendingReads[] = [p];
    for (let i = 0; i < 500; i++) {
      p = setPendingRead(p, `r0#${i}`, read(i));
      history.push(p);
    }
    expect(p.size).toBe(500);
    p = setPendingRead(p, "r0#7", read(70)); // a replacement is not counted twice
    expect(p.size).toBe(500);
    expect(getPendingRead(p, "r0#7")).toEqual(read(70));
    for (let i = 0; i < 500; i += 2) p = deletePendingRead(p, `r0#${i}`);
    expect(p.size).toBe(250);
    expect(getPendingRead(p, "r0#2")).toBeUndefined();
    expect(getPendingRead(p, "r0#3")).toEqual(read(3));
    expect(deletePendingRead(p, "r0#2")).toBe(p); // deleting what is not there changes nothing
    // Every earlier version still holds exactly what it held: the state stays an immutable value (rollback keeps them).
    history.forEach((h, n) => {
      expect(h.size).toBe(n);
      for (let i = 0; i < 500; i += 97) expect(getPendingRead(h, `r0#${i}`)).toEqual(i < n ? read(i) : undefined);
    });
    // A key of Object.prototype is just an id.
    expect(getPendingRead(p, "constructor")).toBeUndefined();
    expect(getPendingRead(setPendingRead(p, "__proto__", read(1)), "__proto__")).toEqual(read(1));
  });

  it("stays plain data: a JSON round trip gives an equal map that works the same", () => {
    let p = emptyPendingReads();
    for (let i = 0; i < 50; i++) p = setPendingRead(p, `r1#${i}`, read(i));
    const back = JSON.parse(JSON.stringify(p)) as PendingReads;
    expect(back).toEqual(p);
    expect(getPendingRead(deletePendingRead(back, "r1#3"), "r1#3")).toBeUndefined();
    expect(deletePendingRead(back, "r1#3").size).toBe(49);
  });
});
