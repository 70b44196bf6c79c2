/** What a hidden key reads as, wherever it is hidden. */
export const REDACTED_KEY = '[redacted-key]';

/** The part of a User-Agent that request and audit logs keep. */
const MAX_USER_AGENT = 512;

/** A percent-escape of a digit or an ASCII letter, in either case of hex digits. */
const ESCAPED_ALNUM = '%(?:3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa])';
/** A percent-escape of a digit or a lower-case ASCII letter. */
const ESCAPED_LOWER_ALNUM = '%(?:3[0-9]|6[1-9A-Fa-f]|7[0-9Aa])';
/** A percent-escape of a lower-case ASCII letter. */
const ESCAPED_LOWER_ALPHA = '%(?:6[1-9A-Fa-f]|7[0-9Aa])';

/** A pattern for `text` that matches it also with any of its characters percent-escaped. */
function escapable(text: string): string {
  return [...text]
    .map((char) => {
      const hex = char.charCodeAt(0).toString(16).padStart(2, '0');
      const hexDigits = [...hex].map((digit) =>
        /[a-f]/.test(digit) ? `[${digit}${digit.toUpperCase()}]` : digit,
      );
      return `(?:${char.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')}|%${hexDigits.join('')})`;
    })
    .join('');
}

/**
 * Hides API keys in text that leaves a request: log lines, problem documents and request-log
 * paths. A caller can put a key anywhere in a URL or a body, and the server would otherwise write
 * it out whole where an error echoes the input; once a key has been shown at creation, no log line,
 * error or response may contain it again (DESIGN, Authentication and scopes). Hides anything shaped
 * like a key (revoked, unknown or another tenant's alike) with any prefix KEY_PREFIX allows — keys
 * keep the prefix they were issued with, so one issued before KEY_PREFIX changed, or by another
 * deployment, is as secret — and the platform admin key, also with any of their characters
 * percent-escaped: the router decodes a path, so `plk%5Flive%5F…` or a key with a single escaped
 * character reaches a route as the key itself.
 */
export class SecretMask {
  private readonly keyPattern: RegExp;
  private readonly adminPattern: RegExp | undefined;
  /** This deployment's `<KEY_PREFIX>_`. */
  private readonly ownPrefix: string;

  constructor(
    keyPrefix: string,
    private readonly adminApiKey: string | undefined,
  ) {
    this.ownPrefix = `${keyPrefix}_`;
    const separator = escapable('_');
    const environment = `(?:${escapable('live')}|${escapable('test')})`;
    // KEY_PREFIX's rule: 2-12 lower-case letters or digits, the first a letter.
    const prefix = `(?:[a-z]|${ESCAPED_LOWER_ALPHA})(?:[0-9a-z]|${ESCAPED_LOWER_ALNUM}){1,11}`;
    this.keyPattern = new RegExp(
      `${prefix}${separator}${environment}${separator}(?:[0-9a-z]|${ESCAPED_LOWER_ALNUM})+${separator}(?:[0-9A-Za-z]|${ESCAPED_ALNUM})+`,
      'g',
    );
    this.adminPattern = adminApiKey === undefined ? undefined : new RegExp(escapable(adminApiKey), 'g');
  }

  /** `text` with every key in it replaced by `[redacted-key]`; `text` itself when it holds none. */
  mask(text: string): string {
    // Plain text without a percent sign is matched by cheap substring checks first.
    const escaped = text.includes('%');
    let masked = text;
    if (escaped || masked.includes('_live_') || masked.includes('_test_')) {
      masked = masked.replace(this.keyPattern, this.redact);
    }
    const admin = this.adminApiKey;
    if (admin === undefined || this.adminPattern === undefined) return masked;
    if (escaped) return masked.replace(this.adminPattern, REDACTED_KEY);
    return masked.includes(admin) ? masked.replaceAll(admin, REDACTED_KEY) : masked;
  }

  /**
   * A key's replacement. A prefix may be up to 12 letters and digits, so a key written right after
   * other ones (`…padding99plk_live_…`) is matched from up to 10 characters before it; when the
   * match starts with this deployment's own prefix after them, those characters are kept.
   */
  private readonly redact = (match: string): string => {
    const own = match.indexOf(this.ownPrefix);
    return own > 0 && match.indexOf('_') === own + this.ownPrefix.length - 1
      ? `${match.slice(0, own)}${REDACTED_KEY}`
      : REDACTED_KEY;
  };

  /**
   * A User-Agent as request and audit logs store it: keys masked first, so none is left half
   * visible where it is cut, then cut to 512 characters.
   */
  userAgent(value: string | undefined): string | null {
    return value === undefined ? null : this.mask(value).slice(0, MAX_USER_AGENT);
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
