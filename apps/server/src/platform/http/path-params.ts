/** `/partners/:id` → `/partners/{id}`: path parameters as the OpenAPI document writes them. */
export function documentedParams(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

/** `/partners/{id}` → `/partners/:id`: path parameters as Fastify routes them. */
export function routedParams(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

/**
 * Whether a matched route took an empty segment for one of its parameters: `/partners/` or
 * `/partners//invite` route to `/partners/:id…` with `id` empty, yet name nothing, so they are
 * unknown routes. A wildcard's rest (`*`) may be empty.
 */
export function hasEmptyParam(params: unknown): boolean {
  for (const name in params as Record<string, unknown>) {
    if ((params as Record<string, unknown>)[name] === '' && name !== '*') return true;
  }
  return false;
}
