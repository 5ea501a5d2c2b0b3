/** The search-key update as an update package: `liveswap pack examples/replicated-db/key-update.ts --key KEY -o key-update.lspkg`. */
import { keyFormatUpdate } from "./db.js";

export const update = keyFormatUpdate();
