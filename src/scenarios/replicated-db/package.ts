/** The replicated database as a node package for a TCP cluster: `behavior: db-v1` in the cluster file. */
import { databaseV1, databaseV2 } from "./db.js";

export const behaviors = { "db-v1": databaseV1(), "db-v2": databaseV2() };
