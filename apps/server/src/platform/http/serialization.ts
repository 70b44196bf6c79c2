import fastJson from 'fast-json-stringify';
import type { FastifySerializerCompiler } from 'fastify';

type Serialize = (data: unknown) => string;

/** Each distinct response schema's serializer, by the schema's JSON text. */
const serializers = new Map<string, Serialize>();

/**
 * Fastify's response serializer, compiled once per distinct schema instead of once per route and
 * status code. Most responses share their schema with many others (every route's problem responses,
 * and each route's `/api/t/{slug}/v1` twin), and each compiled serializer is a function of its own
 * with its code: compiled per route they made about half of the server's heap and of its start-up
 * time. The schemas name no shared schemas (`addSchema`), so a schema's text is all a serializer
 * depends on; options are Fastify's defaults.
 */
export const serializerCompiler: FastifySerializerCompiler<unknown> = ({ schema }) => {
  const key = JSON.stringify(schema);
  let serialize = serializers.get(key);
  if (serialize === undefined) {
    serialize = fastJson(schema as Parameters<typeof fastJson>[0]) as Serialize;
    serializers.set(key, serialize);
  }
  return serialize;
};
