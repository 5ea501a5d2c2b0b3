/**
 * Switches that turn a runtime protection off, for tests that prove the
 * fuzzers can fail (a fuzzer that never finds anything is only trusted once
 * it has been seen to find the bug a protection exists for). Production code
 * never changes them; a test that does restores them in `finally`.
 */
export const testKnobs = {
  /**
   * NodeHost.control ignores a control message whose update id is not the
   * update this node is armed for (a stale marker of a previous update).
   * False: it hands every control message to the current agent, as the
   * runtime did before update ids, so back-to-back updates mix up.
   */
  checkUpdateIds: true,
};
