/** `altlas approve JOB TASK [--reject] [--comment TEXT]`: decides an approval task a job is parked at, and resumes the job. */
import { Kvm } from '@nats-io/kv';
import { decide } from '../approval/park.ts';
import { payloadCodec } from '../security/codec.ts';
import { actorOf, recordAction } from '../ops/history.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';

export const APPROVE_HELP = `Usage: altlas approve JOB-ID TASK-ID [--reject] [--comment TEXT] [--json] [options]

Decides the approval task a parked job waits at (altlas status shows it waiting, with its
question), then resumes the job on any worker: its completed tasks are not run again, and the
decision and comment reach the tasks after it. Approved: the task completes with
{"decision","comment","by","decided_at"} as its output; --reject: it fails with
APPROVAL_REJECTED and its dependents are cancelled. One decision per task: a second one, one for
a job not waiting at that task, or one after the task's approval_timeout_s is refused.
  --reject          reject instead of approve
  --comment TEXT    a comment that goes with the decision
  --json            the decision as one JSON object
${COMMON_HELP}

Exit: 0 decided and resumed; 1 refused (APPROVAL_NOT_WAITING, APPROVAL_DECIDED,
APPROVAL_TIMED_OUT) or NATS failed; 2 usage error.`;

export async function approveCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv, allowPositionals: true,
    options: { ...COMMON_OPTIONS, reject: { type: 'boolean', default: false }, comment: { type: 'string' } },
  });
  if (values.help) {
    io.out(APPROVE_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 2) throw new UsageError('approve takes a job id and a task id');
  const [altId, task] = positionals;
  const config = configFrom(values);
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  return withNats(config, async (s) => {
    const kv = await new Kvm(s.nc).open(config.RUNNER_STATUS_BUCKET);
    const by = actorOf(config);
    // Stamped before the decision: its resume is published within it.
    const at = new Date();
    const r = await decide({ kv, jsm: s.jsm, js: s.js, objBucket: config.RUNNER_OBJECT_BUCKET, codec }, {
      altId, task, decision: values.reject ? 'rejected' : 'approved', comment: typeof values.comment === 'string' ? values.comment : null, by,
    });
    await recordAction(s.js, config, r.decision.decision === 'rejected' ? 'rejected' : 'approved', altId, { by, task_id: task, detail: { comment: r.decision.comment ?? null } }, codec, at);
    if (values.json) io.out(JSON.stringify({ alt_id: altId, ...r.decision, resume_seq: r.resumeSeq }));
    else io.out(`${altId}: task ${task} ${r.decision.decision}; the job resumes (message ${r.resumeSeq})`);
    return EXIT.ok;
  }, { role: 'operator', streams: [`KV_${config.RUNNER_STATUS_BUCKET}`] });
}
