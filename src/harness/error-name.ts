/**
 * Errors told apart by name, not by class: a scenario or a user module may be
 * loaded through another copy of liveswap (dist vs src), where instanceof
 * fails, and the errors being built now (UpdateHaltedError) may not exist yet.
 */
export function isNamed(e: unknown, name: string): boolean {
  return e instanceof Error && e.name === name;
}
