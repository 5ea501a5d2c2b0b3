// The README's quick start: a token counter updated while tokens fly, with naive so that the checker has something to say.
import { System, defineBehavior, defineUpdate } from "liveswap";

type Token = { hops: number };
const v1 = defineBehavior<{ seen: number }, Token, "start", string>({
  version: "counter@1",
  init: () => ({ seen: 0 }),
  receive(s, msg, from, ctx) {
    if (msg.hops > 0) ctx.send(from, { hops: msg.hops - 1 }); // bounce it back
    return { seen: s.seen + 1 };
  },
  request(s, _q, id, ctx) {
    for (const n of ctx.neighbors()) ctx.send(n, { hops: 20 });
    ctx.respond(id, "started");
    return s;
  },
});
type Token2 = { ttl: number; via: string };
const v2 = defineBehavior<{ seen: number; last: string }, Token2>({
  version: "counter@2",
  init: () => ({ seen: 0, last: "" }),
  receive(s, msg, from, ctx) {
    if (msg.ttl > 0) ctx.send(from, { ttl: msg.ttl - 1, via: ctx.self });
    return { seen: s.seen + 1, last: msg.via };
  },
});
const update = defineUpdate({
  from: v1, to: v2,
  state: (old) => ({ seen: old.seen, last: "" }),            // state transfer
  message: (old, { from }) => [{ ttl: old.hops, via: from }],  // old message -> new-equivalent
});

const sys = new System({ seed: 42 });
sys.create("a", v1); sys.create("b", v1); sys.link("a", "b");
await sys.request("a", "start");
const report = await sys.update(update, { strategy: "naive", root: "a" });
await sys.settle();
// naive lets old tokens reach new nodes: the checker says so, one line per violation.
const { violations } = sys.check();
console.log(`"a" runs ${sys.version("a")}; H-G = ${report.finishedAt - report.startedAt} ms; ${violations.length} violation(s)`);
for (const v of violations) console.log(`[${v.invariant}] ${v.message}`);
