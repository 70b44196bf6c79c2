/** `/partners/:id` → `/partners/{id}`: path parameters as the OpenAPI document writes them. */
export function documentedParams(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

/** `/partners/{id}` → `/partners/:id`: path parameters as Fastify routes them. */
export function routedParams(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}
