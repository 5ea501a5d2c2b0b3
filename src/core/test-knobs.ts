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
  /**
   * The coordinator ends an update when every node is new AND every node's part is over (its agent detached), so
   * nothing of it is left when update() resolves. False: it ends at H, when the last node turned new, as the runtime
   * did before, and markers of the update may still be in flight when the next one starts.
   */
  resolveAtCompletion: true,
  /**
   * A node still in an update's part refuses another update's prepare. False: the later prepare replaces the agent,
   * as the runtime did before.
   */
  refuseSecondPrepare: true,
  /**
   * A node's snapshot keeps its outbox (the frames its neighbours have not acknowledged). False: the snapshot leaves
   * the outbox out, as a store that does not persist it would, and a crash loses what was committed and in flight.
   */
  persistOutbox: true,
  /**
   * Strategy control messages on the application's channels (markers, m') wait for the commit of the step that sent
   * them. False: they leave at once, before the commit, and a crash can leave a neighbour acting on a marker of a
   * step that never happened.
   */
  controlAfterCommit: true,
};
