/**
 * Task kinds: the kinds that would act on the worker host are refused wherever a kind can be
 * given (`task_type` of a task or a segment, and `parameters.task_type`), however they are spelt.
 * A kind is compared on its skeleton (Unicode UTS #39): NFKC, camelCase words split, every
 * default-ignorable, control and format character removed, case folded, each character
 * replaced by its confusable prototype (Unicode's confusables.txt), marks removed, and every
 * run of separators dropped. A kind whose skeleton spells a forbidden kind (or its plural), alone
 * or as words of a longer kind, is refused; so is a kind that is not plain ASCII once mapped
 * (an unknown script could hide a forbidden kind no table names). Digits and signs written for
 * letters (`5y$tem_c0mm4nd`) are read as those letters in a third variant.
 */
import { AltlasError, type Problem } from '../errors.ts';
import { CONFUSABLES_TO_ASCII } from './confusables.ts';
import type { Job } from './job.ts';

/** Kinds that would act on the worker's host: a message on a bus must never run commands or touch files. */
export const FORBIDDEN_KINDS: readonly string[] = ['file_operation', 'system_command'];

const PROTOTYPES = new Map<number, string>(CONFUSABLES_TO_ASCII);
/** Removed before anything else: invisible characters (U+034F, U+180E, U+3164, U+FE0F, ...), controls, format characters. */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}]/gu;
const MARKS = /\p{M}/gu;

function prototypes(text: string): string {
  let out = '';
  for (const ch of text.normalize('NFD')) out += PROTOTYPES.get(ch.codePointAt(0)!) ?? ch;
  return out.normalize('NFD');
}

/** Lower case and separator-free words of a mapped text; `l` and `i` are one letter (the table maps `I`, `1` and `|` to `l`, `ı` and `ӏ` to `i`). */
// Stryker disable next-line Regex: empty words are filtered out, so one separator or a run of them splits alike.
const wordsOf = (mapped: string) => mapped.replace(MARKS, '').replace(/l/g, 'i').split(/[^\p{L}\p{N}]+/u).filter(Boolean);

/**
 * The skeleton of a kind: `{ words, variants, ascii }`. `words` are its lower-case words with
 * separators dropped (`" Sуstem-Command\u200b"` → `['systern', 'cornrnand']`, `m` looks like
 * `rn`), mapped after case folding; `variants` adds the words mapped before case folding (the
 * table is case-sensitive: `Ɩ` looks like `l`, its lower case `ɩ` like `i`); `ascii` says
 * whether it is plain ASCII once mapped (marks still counted).
 */
export function kindSkeleton(kind: string): { words: string[]; variants: string[][]; ascii: boolean } {
  const split = kind.normalize('NFKC').replace(/(\p{Ll}|\p{Nd})(\p{Lu})/gu, '$1 $2').replace(INVISIBLE, '');
  const folded = prototypes(split.toLowerCase()).toLowerCase();
  const cased = prototypes(split).toLowerCase();
  const words = wordsOf(folded);
  return { words, variants: [words, wordsOf(cased), wordsOf(unleet(folded))], ascii: /^[\x20-\x7e]*$/.test(folded) };
}

/** Digits and signs written for letters (`5y$tem_c0mm4nd`), which no confusables table maps: a third variant. */
const LEET: Record<string, string> = { '4': 'a', '@': 'a', '3': 'e', '5': 's', '$': 's', '7': 't', '+': 't', '0': 'o', '1': 'i', '!': 'i', '|': 'i', '6': 'g', '9': 'g', '8': 'b' };
const unleet = (text: string) => text.replace(/(?<=\p{L}|^)[4@35$7+01!|698]+|[4@35$7+01!|698]+(?=\p{L})/gu, (run) => [...run].map((c) => LEET[c] ?? c).join(''));

/** A forbidden kind and its plurals, as their separator-free skeletons. */
const FORBIDDEN_FORMS: readonly { kind: string; forms: string[] }[] = FORBIDDEN_KINDS.map((kind) => {
  const base = kindSkeleton(kind).words.join('');
  return { kind, forms: [base, `${base}s`, `${base}es`] };
});

/**
 * Why a kind is refused, or null: the forbidden kind it spells (or whose words it holds), or
 * that it is not plain ASCII.
 */
export function refusedKind(kind: string): { kind: string; reason: 'forbidden' | 'not_ascii' } | null {
  const { variants, ascii } = kindSkeleton(kind);
  for (const words of variants) {
    const joined = words.join('');
    // Every word boundary is a place a forbidden kind may start: `run_system_command`, `SystemCommandV2`.
    // Stryker disable next-line ArrayDeclaration: a stray first entry is read as position 0, where the first word starts anyway.
    const starts: number[] = [];
    for (let i = 0, at = 0; i < words.length; at += words[i].length, i++) starts.push(at);
    for (const f of FORBIDDEN_FORMS) {
      if (f.forms.includes(joined) || starts.some((at) => joined.startsWith(f.forms[0], at))) return { kind: f.kind, reason: 'forbidden' };
    }
  }
  return ascii ? null : { kind, reason: 'not_ascii' };
}

/** Returns TASK_KIND_FORBIDDEN naming every task that asks for a forbidden (or non-ASCII) kind, or null. */
export function checkKinds(job: Job): AltlasError | null {
  const listKey = job.source.form === 'runner' ? 'tasks' : 'segments';
  const problems: Problem[] = [];
  let first: { id: string; kind: string } | null = null;
  job.tasks.forEach((t, i) => {
    const given = [t.kind, t.parameters.task_type].filter((k): k is string => typeof k === 'string');
    for (const k of given) {
      const refused = refusedKind(k);
      if (!refused) continue;
      const what = refused.reason === 'forbidden' ? refused.kind : `${JSON.stringify(k.slice(0, 64))} (not plain ASCII)`;
      first ??= { id: t.id, kind: what };
      problems.push({ pointer: `/${listKey}/${i}`, message: `task ${t.id} has the forbidden kind ${what}` });
      break;
    }
  });
  if (!first) return null;
  const f = first as { id: string; kind: string };
  return new AltlasError('TASK_KIND_FORBIDDEN', `task kind ${f.kind} is not allowed (task ${f.id}): the runner never acts on its host`, {
    problems, context: { altId: job.id, taskId: f.id },
  });
}
