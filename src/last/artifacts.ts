/**
 * Where an artifact's bytes live, as a URL `altlas artifact get` fetches:
 *
 *   altlas+obj://<bucket>/artifacts/<execution_id>/<task_id>_output.txt   an object in the object store
 *   altlas+last://<LAST stream>/<subject>/<execution_id>#<task_id>        a task's output inside a stored .last
 *   altlas+last://<LAST stream>/<subject>/<execution_id>                  the .last itself
 *
 * An output up to RUNNER_OUTPUT_INLINE_MAX bytes is held by the `.last` (no extra write); a
 * larger one is stored as an object, and the `.last` keeps a preview and the URL.
 */

export type ArtifactLocation =
  | { kind: 'obj'; bucket: string; name: string }
  | { kind: 'last'; stream: string; subject: string; executionId: string; taskId: string | null };

/** The object name of a task's stored output. */
export const artifactObjectName = (executionId: string, taskId: string) => `artifacts/${executionId}/${taskId}_output.txt`;

const seg = (s: string) => s.split('/').map(encodeURIComponent).join('/');

export function objectUrl(bucket: string, name: string): string {
  return `altlas+obj://${encodeURIComponent(bucket)}/${seg(name)}`;
}

export function lastUrl(stream: string, subject: string, executionId: string, taskId?: string): string {
  return `altlas+last://${encodeURIComponent(stream)}/${encodeURIComponent(subject)}/${encodeURIComponent(executionId)}${taskId === undefined ? '' : `#${encodeURIComponent(taskId)}`}`;
}

/** Reads an artifact URL; null when it is not one of ours. */
export function parseArtifactUrl(url: string): ArtifactLocation | null {
  const m = /^altlas\+(obj|last):\/\/([^/]+)\/(.+)$/.exec(url.trim());
  if (!m) return null;
  if (m[1] === 'obj') return { kind: 'obj', bucket: decodeURIComponent(m[2]), name: m[3].split('/').map(decodeURIComponent).join('/') };
  const [path, fragment] = m[3].split('#');
  const parts = path.split('/');
  if (parts.length !== 2) return null;
  return { kind: 'last', stream: decodeURIComponent(m[2]), subject: decodeURIComponent(parts[0]), executionId: decodeURIComponent(parts[1]), taskId: fragment === undefined ? null : decodeURIComponent(fragment) };
}
