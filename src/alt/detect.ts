/** Detects the `.alt` form of a parsed document from its shape and version. */
import { AltlasError } from '../errors.ts';
import { ALT_FORMS, type AltForm } from './job.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a version written as a string, or as a YAML/JSON number (1 → "1.0", 2.5 → "2.5"). */
export function versionOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' && Number.isFinite(v)) return Number.isInteger(v) ? `${v}.0` : String(v);
  return undefined;
}

const ENHANCED_HINTS = ['global_variables', 'functions'];
const SEGMENT_CONTROL = ['condition', 'loop', 'function_def', 'function_call', 'variables'];

/**
 * Returns the form to validate against: `tasks` marks the runner form; `segments` (or `command`
 * with `timestamp`) the segmentation family, whose version picks 1.0 or the enhanced 2.0.
 */
export function detectForm(doc: unknown): AltForm {
  if (!isObject(doc)) {
    const got = Array.isArray(doc) ? 'a list' : doc === null ? 'null' : `a ${typeof doc}`;
    throw new AltlasError('ALT_UNKNOWN_FORMAT', `an .alt document must be an object, got ${got}`, {
      problems: [{ pointer: '', message: `must be an object with tasks (runner form) or segments (segmentation form), got ${got}` }],
    });
  }
  const version = versionOf(doc.version);
  const unsupported = (form: string, supported: readonly string[]) =>
    new AltlasError('ALT_UNSUPPORTED_VERSION', `${form} form version ${version} is not supported; supported: ${supported.join(', ')}`, {
      problems: [{ pointer: '/version', message: `version ${JSON.stringify(doc.version)} is not supported; supported: ${supported.join(', ')}` }],
      context: { version, supported },
    });

  if ('segments' in doc || ('command' in doc && 'timestamp' in doc)) {
    const supported = [...ALT_FORMS.segmentation, ...ALT_FORMS.enhanced];
    if (version === undefined) {
      const segs = Array.isArray(doc.segments) ? doc.segments : [];
      const looksEnhanced = ENHANCED_HINTS.some((k) => k in doc) || segs.some((s) => isObject(s) && SEGMENT_CONTROL.some((k) => s[k] != null));
      return looksEnhanced ? 'enhanced' : 'segmentation';
    }
    if ((ALT_FORMS.segmentation as readonly string[]).includes(version)) return 'segmentation';
    if ((ALT_FORMS.enhanced as readonly string[]).includes(version)) return 'enhanced';
    throw unsupported('segmentation', supported);
  }
  if ('tasks' in doc) {
    if (version === undefined || (ALT_FORMS.runner as readonly string[]).includes(version)) return 'runner';
    throw unsupported('runner', ALT_FORMS.runner);
  }
  const keys = Object.keys(doc).slice(0, 8).join(', ');
  throw new AltlasError('ALT_UNKNOWN_FORMAT', 'not an .alt document: it has neither tasks nor segments', {
    problems: [{ pointer: '', message: `expected tasks (runner form) or segments (segmentation form); found keys: ${keys || 'none'}` }],
  });
}
