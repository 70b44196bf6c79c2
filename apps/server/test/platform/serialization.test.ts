import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { serializerCompiler } from '../../src/platform/http/serialization.ts';

const compile = (schema: unknown, httpStatus = '200') =>
  serializerCompiler({ schema, method: 'GET', url: '/x', httpStatus }) as (data: unknown) => string;

describe('the response serializer compiler', () => {
  it('compiles equal schemas once, whichever route and status they belong to', () => {
    const make = () => Type.Object({ data: Type.Object({ id: Type.String(), count: Type.Integer() }) });
    const first = compile(make());
    expect(compile(make(), '201')).toBe(first);
    expect(first({ data: { id: 'prt_1', count: 2, secret: 'not in the schema' } })).toBe(
      '{"data":{"id":"prt_1","count":2}}',
    );
  });

  it('compiles schemas that differ in any way separately', () => {
    const plain = compile(Type.Object({ id: Type.String() }));
    const nullable = compile(Type.Object({ id: Type.Union([Type.String(), Type.Null()]) }));
    expect(nullable).not.toBe(plain);
    expect(nullable({ id: null })).toBe('{"id":null}');
    expect(plain({ id: 'a' })).toBe('{"id":"a"}');
  });
});
