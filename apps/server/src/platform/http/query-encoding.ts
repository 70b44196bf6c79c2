import { ApiError } from '../errors.ts';

/**
 * The refusal of a query string that is not valid percent-encoding of UTF-8 (`?q=%C3%28`,
 * `?q=%FF`, `?q=%zz`), naming its first such parameter; undefined for a good one. The router's
 * parser keeps such a value as the literal text, so `%C3%28` and `%25C3%2528` would both search
 * for the same six characters; like a path of that kind, it is refused instead.
 */
export function malformedQuery(url: string): ApiError | undefined {
  const start = url.indexOf('?');
  if (start === -1 || url.indexOf('%', start) === -1) return undefined;
  for (const parameter of url.slice(start + 1).split('&')) {
    if (decodes(parameter)) continue;
    const name = parameter.split('=', 1)[0] as string;
    const field = decodes(name) ? decodeURIComponent(name.replaceAll('+', ' ')) : 'query';
    const message = `${field} is not valid percent-encoding of UTF-8 (write a literal % as %25)`;
    return new ApiError('validation_error', message, {
      errors: [{ field, code: 'invalid_format', message }],
    });
  }
  return undefined;
}

function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}
