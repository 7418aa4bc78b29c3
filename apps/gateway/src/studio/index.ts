import type { UpstreamConfig } from "@toolgate/mcp-express";
import type { Router } from "express";
import { createToolInventory, type ToolInventory } from "./inventory.js";
import { createStudioApiRouter, createStudioPageRouter } from "./router.js";
import { createStudioService, type StudioService, type StudioServiceOptions } from "./service.js";

/** Options of {@link createStudio}: the service's, with upstreams instead of an inventory. */
export interface StudioOptions extends Omit<StudioServiceOptions, "inventory"> {
  /** The gateway's upstreams (listed for the tools view, never called). */
  readonly upstreams: readonly UpstreamConfig[];
  /** Replaces the upstream listing (tests). */
  readonly inventory?: ToolInventory;
}

/** The policy studio, ready to mount. */
export interface Studio {
  readonly service: StudioService;
  /** Mount inside the admin API router, behind its token check (serves `/studio/*`). */
  readonly api: Router;
  /** Mount on the app (serves `/admin/studio` and its assets). */
  readonly pages: Router;
}

/**
 * The policy studio: the tools view with risk, the policy editor, "try a call", policy
 * tests, diff and publish. Its API needs the admin token (mount `api` in the admin
 * router), its page is static.
 *
 * @example
 * const studio = createStudio({ grants, policies, upstreams, store, reloadPolicy });
 * app.use(createAdminRouter({ ..., extraApi: studio.api }));
 * app.use(studio.pages);
 */
export function createStudio(options: StudioOptions): Studio {
  const inventory =
    options.inventory ?? createToolInventory({ upstreams: options.upstreams, now: options.now });
  const service = createStudioService({ ...options, inventory });
  return {
    service,
    api: createStudioApiRouter(service, options.logger),
    pages: createStudioPageRouter(),
  };
}
