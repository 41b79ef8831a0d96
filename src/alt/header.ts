/**
 * The header of a document that parsed but failed its checks: what its failure `.last` can still
 * say about it (title, persona, mode, priority, tags, metadata), read as the normaliser reads
 * them, each field only when it has the right type. Never throws.
 */
import { MODES, PRIORITIES, type Job, type Mode, type Priority } from './job.ts';

/** The fields of a job a failure `.last` carries. */
export type JobHeader = Pick<Job, 'title' | 'mode' | 'persona' | 'priority' | 'tags' | 'metadata'>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v : null);
const isPriority = (v: unknown): v is Priority => typeof v === 'string' && (PRIORITIES as readonly string[]).includes(v);
const tagsOf = (v: unknown): string[] | null => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null);

/** The header of a parsed document, or null when it is not an object with a title or an id to name it by. */
export function jobHeader(doc: unknown): JobHeader | null {
  if (!isObject(doc)) return null;
  const meta = isObject(doc.metadata) ? doc.metadata : {};
  const segmentation = 'segments' in doc || ('command' in doc && 'timestamp' in doc);
  const title = segmentation ? text(doc.command)?.trim() ?? text(doc.id) : text(doc.title);
  if (title === null) return null;
  const mode = typeof doc.mode === 'string' ? doc.mode.toLowerCase() : 'normal';
  return {
    title,
    mode: (MODES as readonly string[]).includes(mode) ? (mode as Mode) : 'normal',
    persona: text(doc.persona),
    priority: !segmentation && isPriority(doc.priority) ? doc.priority : isPriority(meta.priority) ? meta.priority : 'medium',
    tags: (!segmentation ? tagsOf(doc.tags) : null) ?? tagsOf(meta.tags) ?? [],
    metadata: meta,
  };
}
