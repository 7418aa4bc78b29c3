/**
 * The approvals part of the admin API: the list (with where each call stands: who
 * approved so far, how many more are needed, whether the caller may decide it) and the
 * approve/reject routes, which take every decision through `decideApproval`.
 */
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { z } from "zod";
import { principalOf } from "./admin-auth.js";
import {
  type Approver,
  type DecideDeps,
  DecisionRefused,
  decideApproval,
  refusal,
} from "./approvals/decide.js";
import type { ApprovalRecord } from "./approvals/store.js";

const ResolveBody = z
  .strictObject({ reason: z.string().max(500, "keep the reason under 500 characters").optional() })
  .optional();

/** A record as the API shows it: with its progress and the caller's right to decide. */
function view(r: ApprovalRecord, approver: Approver | undefined, deps: DecideDeps) {
  const needed = r.rule?.approvers ?? 1;
  const approvedBy = (r.decisions ?? [])
    .filter((d) => d.decision === "approve")
    .map((d) => d.approver);
  const pending = r.status === "pending";
  return {
    ...r,
    needed,
    approvedBy,
    remaining: pending ? Math.max(0, needed - approvedBy.length) : 0,
    ...(pending && {
      // Why this caller may not approve it (absent when it may): the page says so.
      cannotApprove:
        approver === undefined
          ? "sign in as an approver to decide"
          : approvedBy.includes(approver.name)
            ? "you already approved it"
            : refusal(approver, r, "approve", deps.policyOf),
    }),
  };
}

/**
 * `GET /approvals`, `POST /approvals/:id/approve` and `/reject` (body `{ reason? }`).
 * Answers 403 when the caller may not decide (not an approver, not allowed for this
 * grant/tool/policy/rule, or their own call), 400 when the rule needs a reason, 409 when
 * it is no longer open or already has the caller's decision, 404 for an unknown id.
 *
 * @example
 * api.use(approvalRoutes({ store, lifecycle, policyOf, now }));
 */
export function approvalRoutes(deps: DecideDeps): Router {
  const router = express.Router();
  router.get("/approvals", async (_req, res, next) => {
    try {
      const { approver } = principalOf(res);
      const [pending, recent] = await Promise.all([
        deps.store.listPending(),
        deps.store.listRecent(20),
      ]);
      res.json({
        pending: pending.map((r) => view(r, approver, deps)),
        recent: recent.map((r) => view(r, approver, deps)),
        you: approver && { approver: approver.name, roles: approver.roles },
        now: deps.now(),
      });
    } catch (err) {
      next(err);
    }
  });

  const decide = (decision: "approve" | "reject") =>
    async function decideRoute(req: Request, res: Response, next: NextFunction) {
      const body = ResolveBody.safeParse(req.body ?? undefined);
      if (!body.success) {
        res.status(400).json({
          error: "invalid_body",
          issues: body.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
        });
        return;
      }
      const { approver } = principalOf(res);
      if (approver === undefined) {
        res.status(403).json({
          error: "not_an_approver",
          message: "the admin token is not an approver here; sign in with an approver credential",
        });
        return;
      }
      try {
        const id = String(req.params.id);
        const { approval } = await decideApproval(deps, approver, id, decision, body.data?.reason);
        res.json({ approval: view(approval, approver, deps) });
      } catch (err) {
        if (err instanceof DecisionRefused) {
          res
            .status(err.status)
            .json({ error: err.code, message: err.message, approval: err.approval });
          return;
        }
        next(err);
      }
    };
  router.post("/approvals/:id/approve", decide("approve"));
  router.post("/approvals/:id/reject", decide("reject"));
  return router;
}
