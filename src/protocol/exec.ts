import { z } from 'zod';
import { EXEC_LIMITS } from './agent.js';

/** `POST /v1/exec`: run `argv` (no shell) on the nodes matching `selector` that the caller may exec on. */
export const ExecRunRequestSchema = z.object({
  selector: z.string().max(1024),
  argv: z
    .array(z.string().max(EXEC_LIMITS.maxArgLength).refine((a) => !a.includes('\0'), 'must not contain NUL'))
    .min(1)
    .max(EXEC_LIMITS.maxArgs)
    .refine((argv) => (argv[0] ?? '') !== '', 'the command (argv[0]) must not be empty'),
  /** Per node; default 60 s, at most 1 h. */
  timeoutSeconds: z.number().int().min(1).max(3600).default(60),
});
export type ExecRunRequest = z.infer<typeof ExecRunRequestSchema>;

export const EXEC_CONTENT_TYPE = 'application/x-ndjson';

/** Why a node's command did not run or did not finish: an agent refusal, or the server's (NOT_CONNECTED, TIMEOUT, DISCONNECTED). */
export const ExecErrorSchema = z.object({ code: z.string(), message: z.string() });

/** The events of `POST /v1/exec`, one JSON object a line: `start`, then `output`/`exit` per node as they come, `done` last. */
export const ExecEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), nodes: z.array(z.object({ id: z.string(), name: z.string() })) }),
  z.object({ type: z.literal('output'), node: z.string(), stream: z.enum(['stdout', 'stderr']), data: z.string() }),
  z.object({
    type: z.literal('exit'),
    node: z.string(),
    exitCode: z.number().int().nullable(),
    signal: z.string().nullable(),
    error: ExecErrorSchema.optional(),
    truncated: z.boolean(),
    durationMs: z.number().int().nonnegative(),
  }),
  z.object({ type: z.literal('done'), total: z.number().int().nonnegative(), failed: z.number().int().nonnegative() }),
]);
export type ExecEvent = z.infer<typeof ExecEventSchema>;

/** A node's command succeeded when it ran and exited 0. */
export function execSucceeded(event: { exitCode: number | null; error?: unknown }): boolean {
  return event.exitCode === 0 && event.error === undefined;
}
