/**
 * Runs `work` every `ms` without overlap (a tick that comes while the last run
 * still goes is skipped); a failure goes to `onError` and the ticks go on.
 * The timer does not keep the process alive.
 */
export function everyWithoutOverlap(ms: number, work: () => Promise<void>, onError: (err: unknown) => void): NodeJS.Timeout {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    work()
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, ms);
  timer.unref();
  return timer;
}
