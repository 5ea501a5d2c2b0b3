/** The search-key update as an update package: `liveswap pack src/scenarios/replicated-db/key-update.ts --key KEY -o key-update.lspkg`. */
import { keyFormatUpdate } from "./db.js";

export const update = keyFormatUpdate();
