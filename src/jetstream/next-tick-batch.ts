/**
 * Runs tasks together, once the I/O callbacks of this turn of the event loop have run
 * (setImmediate). The NATS client writes what was published in one macrotask as one socket
 * write; HTTP requests each arrive in their own callback, so publishing at once costs one write
 * (and one JetStream request frame) per append. Deferring the publishes of a turn to one task
 * sends them in one write, and lets appends to one stream that arrived in the same turn share a
 * message. Costs one pass of the loop's check phase: well under a millisecond.
 */
export type TickBatch = (task: () => void) => void;

export function tickBatch(): TickBatch {
  let tasks: Array<() => void> = [];
  return (task) => {
    tasks.push(task);
    if (tasks.length > 1) return;
    setImmediate(() => {
      const run = tasks;
      tasks = [];
      for (const one of run) one();
    });
  };
}
