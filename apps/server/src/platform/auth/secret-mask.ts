/** What a hidden key reads as, wherever it is hidden. */
export const REDACTED_KEY = '[redacted-key]';

/** The part of a User-Agent that request and audit logs keep. */
const MAX_USER_AGENT = 512;

/** A percent-escape of an ASCII character: every character of a key or of its prefix is one. */
const ASCII_ESCAPE = /%([0-7][0-9A-Fa-f])/g;

/**
 * Hides API keys in text that leaves a request: log lines, problem documents and request-log
 * paths. A caller can put a key anywhere in a URL or a body, and the server would otherwise write
 * it out whole where an error echoes the input; once a key has been shown at creation, no log line,
 * error or response may contain it again (DESIGN, Authentication and scopes). Hides anything shaped like a key of this
 * deployment (revoked, unknown or another tenant's alike) and the platform admin key.
 */
export class SecretMask {
  private readonly keyPattern: RegExp;
  private readonly keyMarker: string;

  constructor(
    keyPrefix: string,
    private readonly adminApiKey: string | undefined,
  ) {
    this.keyMarker = `${keyPrefix}_`;
    this.keyPattern = new RegExp(`${keyPrefix}_(?:live|test)_[0-9a-z]+_[0-9A-Za-z]+`, 'g');
  }

  /** `text` with every key in it replaced by `[redacted-key]`; `text` itself when it holds none. */
  mask(text: string): string {
    let masked = text;
    if (masked.includes(this.keyMarker)) masked = masked.replace(this.keyPattern, REDACTED_KEY);
    const admin = this.adminApiKey;
    if (admin !== undefined && masked.includes(admin)) masked = masked.replaceAll(admin, REDACTED_KEY);
    return masked;
  }

  /**
   * A User-Agent as request and audit logs store it: keys masked first, so none is left half
   * visible where it is cut, then cut to 512 characters.
   */
  userAgent(value: string | undefined): string | null {
    return value === undefined ? null : this.mask(value).slice(0, MAX_USER_AGENT);
  }

  /**
   * A URL or path as it may be logged or stored. The router decodes percent-escapes, so
   * `plk%5Flive%5F…` reaches a route as a key although the plain pattern does not match it; when the
   * decoded text holds a key, the decoded text is returned with the key hidden.
   */
  maskUrl(url: string): string {
    const masked = this.mask(url);
    if (!masked.includes('%')) return masked;
    const decoded = masked.replace(ASCII_ESCAPE, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
    const maskedDecoded = this.mask(decoded);
    return maskedDecoded === decoded ? masked : maskedDecoded;
  }
}

const masks = new WeakMap<object, SecretMask>();

/** The mask of a deployment's settings, made once per settings object. */
export function secretMaskFor(config: { keyPrefix: string; adminApiKey: string | undefined }): SecretMask {
  let mask = masks.get(config);
  if (!mask) {
    mask = new SecretMask(config.keyPrefix, config.adminApiKey);
    masks.set(config, mask);
  }
  return mask;
}
