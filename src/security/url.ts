/**
 * A URL as telemetry may record it (OpenTelemetry's semantic conventions for `url.full`): the
 * user name and password replaced by `REDACTED`, and the values of query parameters that carry
 * credentials (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`, and any whose name is a
 * secret key name, such as `api_key` or `token`) replaced by `REDACTED`.
 */
import { maskUrlUserinfo } from './secret-formats.ts';
import { isSecretKeyName } from './secret-keys.ts';

const SENSITIVE_PARAMS = new Set(['awsaccesskeyid', 'signature', 'sig', 'x-goog-signature', 'x-amz-signature', 'x-amz-credential', 'x-amz-security-token', 'key']);

/** The URL with its credentials replaced by `REDACTED`. */
export function safeUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not a URL we can parse: any credential in it masked as the logs mask them.
    return maskUrlUserinfo(text, true);
  }
  if (url.username || url.password) {
    url.username = 'REDACTED';
    url.password = url.password ? 'REDACTED' : '';
  }
  for (const name of [...url.searchParams.keys()]) {
    if (SENSITIVE_PARAMS.has(name.toLowerCase()) || isSecretKeyName(name)) url.searchParams.set(name, 'REDACTED');
  }
  return url.toString();
}
