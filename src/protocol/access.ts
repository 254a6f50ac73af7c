import { z } from 'zod';

export const LoginRequestSchema = z.object({
  user: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
  totp: z.string().max(16).optional(),
});
export const LoginResponseSchema = z.object({
  token: z.string(),
  expiresAt: z.number().int(),
  user: z.string(),
  mfaEnrollmentRequired: z.boolean(),
});

export const WhoAmISchema = z.object({
  actor: z.string(),
  kind: z.enum(['api-token', 'session']),
  roles: z.array(z.string()),
  mfa: z.boolean(),
  mfaEnrollmentRequired: z.boolean(),
});

/** Replacing an enrolled factor takes a current code from it. */
export const MfaEnrollRequestSchema = z.object({ currentCode: z.string().min(6).max(10).optional() }).nullish();
export const MfaEnrollResponseSchema = z.object({ uri: z.string(), secret: z.string() });
export const MfaConfirmSchema = z.object({ code: z.string().min(6).max(10) });

export const UserSchema = z.object({
  name: z.string(),
  roles: z.array(z.string()),
  mfaEnrolled: z.boolean(),
  locked: z.boolean(),
  failedLogins: z.number().int(),
  createdAt: z.number().int(),
  lastLoginAt: z.number().int().nullable(),
});
export type UserView = z.infer<typeof UserSchema>;
export const CreateUserSchema = z.object({
  name: z.string().min(1).max(64),
  roles: z.array(z.string().min(1).max(64)).min(1).max(32),
  /** Omitted: the server generates one and returns it once. */
  password: z.string().min(1).max(1024).optional(),
});
export const CreatedUserSchema = UserSchema.extend({ password: z.string().optional() });
export const UserListSchema = z.object({ users: z.array(UserSchema) });
export const UserParamsSchema = z.object({ name: z.string().min(1).max(64) });
export const SetRolesSchema = z.object({ roles: z.array(z.string().min(1).max(64)).min(1).max(32) });
export const SetPasswordSchema = z.object({ password: z.string().min(1).max(1024) });

export const SessionSchema = z.object({
  id: z.string(),
  user: z.string(),
  createdAt: z.number().int(),
  expiresAt: z.number().int(),
  lastUsedAt: z.number().int().nullable(),
  source: z.string(),
  mfa: z.boolean(),
});
export const SessionListSchema = z.object({ sessions: z.array(SessionSchema) });

export const CreateApiTokenSchema = z.object({
  name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, ".", "_" or "-"'),
  role: z.string().min(1).max(64),
  ttlSeconds: z.number().int().positive().max(5 * 365 * 86400).optional(),
});
export const ApiTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: z.string(),
  createdAt: z.number().int(),
  expiresAt: z.number().int().nullable(),
  lastUsedAt: z.number().int().nullable(),
  revokedAt: z.number().int().nullable(),
});
export const CreatedApiTokenSchema = ApiTokenSchema.extend({ token: z.string() });
export const ApiTokenListSchema = z.object({ tokens: z.array(ApiTokenSchema) });

export const RuleSchema = z.object({
  resources: z.array(z.string()),
  verbs: z.array(z.string()),
  nodes: z.string().optional(),
  principals: z.array(z.string()).optional(),
  paths: z.array(z.string()).optional(),
});
export const RoleSchema = z.object({
  name: z.string(),
  description: z.string().optional(),
  allow: z.array(RuleSchema),
  deny: z.array(RuleSchema),
  requireMfa: z.boolean().optional(),
  builtin: z.boolean(),
});
export const RoleListSchema = z.object({ roles: z.array(RoleSchema) });
export const ApplyRolesSchema = z.object({ yaml: z.string().min(1).max(256 * 1024) });
export const RoleParamsSchema = z.object({ name: z.string().min(1).max(64) });

export const AccessCheckSchema = z
  .object({
    user: z.string().max(64).optional(),
    role: z.string().max(64).optional(),
    verb: z.string().min(1).max(32),
    resource: z.string().min(1).max(64).default('nodes'),
    node: z.string().max(253).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    principal: z.string().max(64).optional(),
  })
  .refine((v) => (v.user === undefined) !== (v.role === undefined), { message: 'give exactly one of user or role' });
export const DecisionSchema = z.object({
  allowed: z.boolean(),
  explanation: z.string(),
  kind: z.enum(['allow', 'deny', 'default-deny']),
  role: z.string().optional(),
  ruleIndex: z.number().int().optional(),
});
export const AccessTestRequestSchema = z.object({ yaml: z.string().min(1).max(256 * 1024) });
export const AccessTestResultSchema = z.object({
  results: z.array(z.object({ name: z.string(), passed: z.boolean(), expected: z.enum(['allow', 'deny']), decision: DecisionSchema })),
});
