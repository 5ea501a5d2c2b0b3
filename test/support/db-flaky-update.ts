// The replicated database's key update (db@1 -> db@2) whose state transfer passes prepare's dry run and throws at
// swap time on node r1 (its second call in that process): the update halts there, safely. Tests then resume it with
// the sound key update (the same versions), as `ctl resume` does.
import { defineUpdate } from "../../src/core/update.js";
import { keyFormatUpdate } from "../../src/scenarios/replicated-db/db.js";

const sound = keyFormatUpdate();
let calls = 0;

export const update = defineUpdate({
  ...sound,
  state(old, info) {
    calls++;
    if (info.self === "r1" && calls > 1) throw new Error("the transfer met a record it cannot convert (a test's flaw)");
    return sound.state(old, info);
  },
});
